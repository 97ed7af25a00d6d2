//! Loading: the root file, its imports and the standard library, into module instances.
//!
//! Takes: a [`World`], the root path and `--param` values. Gives: a [`Program`]: every
//! source file, each module instance with its flattened items and namespace, the type table
//! of all schemas and enums, and the diagnostics of lexing, parsing, imports and names.
//! A module imported twice with different arguments is two instances of one parsed file.
//!
//! Parsing is shared where the text is: the standard library's prelude is parsed once per
//! process ([`std_prelude`], immutable data in a `OnceLock`), and a [`World`] may hand out a
//! [`ParseCache`] (the language server's) so a file whose text and file id are unchanged
//! since an earlier load is not parsed again.

use super::types::{scalar, EnumDef, EnumId, FieldDef, SchemaDef, SchemaId, Ty, TypeTable, VariantDef, SCALARS};
use super::value::ModuleId;
use crate::diag::{codes, Diagnostic};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use crate::syntax::{self, ast, token::Comment};
use crate::world::{normalize, World, STDLIB};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// What a top-level name in a module stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Name {
    Param(usize),
    Let(usize),
    Decl(usize),
    Import(ModuleId),
    Schema(SchemaId),
    Enum(EnumId),
}

/// A top-level item, with the `if` conditions (guard index, branch) it sits under.
#[derive(Debug)]
pub struct Entry {
    pub item: ast::Item,
    pub guards: Vec<(usize, bool)>,
}

#[derive(Debug)]
pub struct Module {
    pub file: FileId,
    /// Folder imports resolve against (`None` for the standard library).
    pub dir: Option<PathBuf>,
    pub std: bool,
    /// In scope in every module without an import.
    pub prelude: bool,
    pub entries: Vec<Entry>,
    pub guards: Vec<ast::Expr>,
    pub names: HashMap<String, (Name, Span)>,
    /// The importer and the body that sets this module's params.
    pub importer: Option<(ModuleId, Option<ast::Body>)>,
    /// Address prefix of its declarations: `obs.` for `import … as obs`, nested for nested
    /// imports; empty for the root and the prelude.
    pub prefix: String,
}

/// A `for`-less or `for` declaration: one group, expanded to instances by the checker.
#[derive(Debug)]
pub struct Group {
    pub module: ModuleId,
    pub entry: usize,
    pub kind: Option<SchemaId>,
}

pub struct CliParam {
    pub raw: String,
    pub expr: Option<ast::Expr>,
}

pub struct Program {
    pub sources: SourceMap,
    pub modules: Vec<Module>,
    pub root: ModuleId,
    pub types: TypeTable,
    pub groups: Vec<Group>,
    pub comments: HashMap<FileId, Vec<Comment>>,
    pub cli_params: BTreeMap<String, CliParam>,
    /// Schema of each type name in the prelude, for the rules (`service`, `gpu_pool`, …).
    pub std_schemas: HashMap<String, SchemaId>,
    pub std_enums: HashMap<String, EnumId>,
    /// Where syntax errors were reported: bodies around them skip "missing field" errors.
    pub broken: Vec<Span>,
}

impl Program {
    pub fn module(&self, id: ModuleId) -> &Module {
        &self.modules[id.0 as usize]
    }
    pub fn std_schema(&self, name: &str) -> Option<SchemaId> {
        self.std_schemas.get(name).copied()
    }
    /// The doc comment written right before `offset` in `file`.
    pub fn doc_before(&self, file: FileId, offset: u32) -> Option<String> {
        let comments = self.comments.get(&file)?;
        let text = &self.sources.get(file)?.text;
        let mut lines = Vec::new();
        let mut end = offset as usize;
        for c in comments.iter().rev().filter(|c| (c.end as usize) <= offset as usize) {
            let gap = text.get(c.end as usize..end)?;
            if !gap.chars().all(char::is_whitespace) || gap.matches('\n').count() > 1 {
                break;
            }
            match &c.doc {
                Some(d) => lines.push(d.clone()),
                None => break,
            }
            end = c.start as usize;
        }
        if lines.is_empty() {
            return None;
        }
        lines.reverse();
        Some(lines.join("\n"))
    }
}

/// One file parsed at one file id: immutable, shared between loads.
pub struct FileParse {
    /// The text it was parsed from.
    pub text: String,
    pub file: Arc<ast::File>,
    pub comments: Vec<Comment>,
    pub diags: Vec<Diagnostic>,
}

impl FileParse {
    pub fn new(id: FileId, text: &str) -> FileParse {
        let p = syntax::parse_file(id, text);
        FileParse { text: text.to_string(), file: Arc::new(p.file), comments: p.comments, diags: p.diags }
    }
}

/// The prelude files of the standard library, parsed once per process at the file ids every
/// load gives them (they are the first files of every [`Program`]).
pub fn std_prelude() -> &'static [Arc<FileParse>] {
    static PRELUDE: OnceLock<Vec<Arc<FileParse>>> = OnceLock::new();
    PRELUDE.get_or_init(|| {
        STDLIB
            .iter()
            .filter(|s| s.1)
            .enumerate()
            .map(|(i, (_, _, text))| Arc::new(FileParse::new(FileId(i as u32), text)))
            .collect()
    })
}

/// Parses kept across loads (an editor session's), keyed by file id and text. Entries not
/// used during the last [`ParseCache::KEEP`] loads are dropped when a load ends.
#[derive(Default)]
pub struct ParseCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    /// By (file id, hash of the text): the parse and the load that last used it.
    files: HashMap<(FileId, u64), (Arc<FileParse>, u64)>,
    loads: u64,
    /// How many parses were served from the cache and how many were made (for tests and logs).
    hits: u64,
    misses: u64,
}

impl ParseCache {
    /// Loads an entry survives without being used.
    pub const KEEP: u64 = 2;

    /// The parse of `text` at `id`, made now unless an earlier load made it. The cache stays
    /// locked while it parses, so two loads of one new text at once (the language server's
    /// check and its names-only analysis after an edit) parse it once: the second waits.
    pub fn parse(&self, id: FileId, text: &str) -> Arc<FileParse> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let key = (id, h.finish());
        let Ok(mut c) = self.inner.lock() else {
            return Arc::new(FileParse::new(id, text));
        };
        let now = c.loads;
        if let Some((p, used)) = c.files.get_mut(&key).filter(|(p, _)| p.text == text) {
            *used = now;
            let p = p.clone();
            c.hits += 1;
            return p;
        }
        let parsed = Arc::new(FileParse::new(id, text));
        c.misses += 1;
        c.files.insert(key, (parsed.clone(), now));
        parsed
    }

    /// Marks the end of a load: drops what the last loads did not use.
    pub fn end_load(&self) {
        if let Ok(mut c) = self.inner.lock() {
            c.loads += 1;
            let oldest = c.loads.saturating_sub(Self::KEEP);
            c.files.retain(|_, (_, used)| *used >= oldest);
        }
    }

    /// (parses served from the cache, parses made) so far.
    pub fn stats(&self) -> (u64, u64) {
        self.inner.lock().map_or((0, 0), |c| (c.hits, c.misses))
    }
}

struct Loader<'w> {
    world: &'w dyn World,
    root_dir: PathBuf,
    /// The root file's folder as the user wrote it, for showing module paths.
    root_shown: PathBuf,
    /// Prefix for the module being added by the current import.
    pending_prefix: String,
    parsed: HashMap<PathBuf, (FileId, Arc<ast::File>)>,
    loading: Vec<PathBuf>,
    prog: Program,
    diags: Vec<Diagnostic>,
}

/// Loads `root` with everything it imports. `name` is how the root file is shown in messages.
pub fn load(world: &dyn World, root: &Path, params: &[(String, String)]) -> (Program, Vec<Diagnostic>) {
    // Imports are checked against the root file's folder, made absolute so that `..` cannot
    // climb out of a relative path; symlinks are resolved as well.
    let root_path = world.canonical(root).unwrap_or_else(|| normalize(root));
    let root_dir = root_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut l = Loader {
        world,
        root_dir,
        root_shown: root.parent().map(Path::to_path_buf).unwrap_or_default(),
        pending_prefix: String::new(),
        parsed: HashMap::new(),
        loading: Vec::new(),
        prog: Program {
            sources: SourceMap::default(),
            modules: Vec::new(),
            root: ModuleId(0),
            types: TypeTable::default(),
            groups: Vec::new(),
            comments: HashMap::new(),
            cli_params: BTreeMap::new(),
            std_schemas: HashMap::new(),
            std_enums: HashMap::new(),
            broken: Vec::new(),
        },
        diags: Vec::new(),
    };
    for (path, prelude, text) in STDLIB.iter().filter(|s| s.1) {
        let file = l.add_file(format!("<{path}>"), text);
        l.add_module(file.0, file.1, None, true, *prelude, None);
    }
    match world.read(&root_path) {
        Ok(text) => {
            let (file, ast) = l.add_file(root.display().to_string(), &text);
            l.parsed.insert(root_path.clone(), (file, ast.clone()));
            l.loading.push(root_path.clone());
            let dir = root_path.parent().map(Path::to_path_buf);
            let id = l.add_module(file, ast, dir, false, false, None);
            l.loading.pop();
            l.prog.root = id;
        }
        Err(e) => {
            l.diags
                .push(Diagnostic::sourceless(codes::IMPORT_UNREADABLE, format!("cannot read {}: {e}", root.display())));
            let file = l.add_file(root.display().to_string(), "");
            let id = l.add_module(file.0, file.1, None, false, false, None);
            l.prog.root = id;
        }
    }
    for (k, v) in params {
        let file = l.prog.sources.add(SourceFile::new(format!("--param {k}"), v.clone()));
        let lexed = syntax::lexer::lex(file, v);
        let (expr, _) = syntax::parser::parse_expr(file, &lexed.tokens, v);
        l.prog
            .cli_params
            .insert(k.clone(), CliParam { raw: v.clone(), expr: if lexed.diags.is_empty() { expr } else { None } });
    }
    l.register_types();
    l.register_groups();
    if let Some(cache) = world.parse_cache() {
        cache.end_load();
    }
    (l.prog, l.diags)
}

impl Loader<'_> {
    /// A path as the user sees it: relative to where the root file was named from.
    fn shown(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root_dir) {
            Ok(rel) => self.root_shown.join(rel).display().to_string(),
            Err(_) => p.display().to_string(),
        }
    }

    fn add_file(&mut self, name: String, text: &str) -> (FileId, Arc<ast::File>) {
        let id = self.prog.sources.add(SourceFile::new(name, text));
        let prelude = std_prelude().get(id.0 as usize).filter(|p| p.text == text);
        let parsed = match (prelude, self.world.parse_cache()) {
            (Some(p), _) => p.clone(),
            (None, Some(cache)) => cache.parse(id, text),
            (None, None) => Arc::new(FileParse::new(id, text)),
        };
        self.prog.broken.extend(parsed.diags.iter().filter_map(|d| d.primary));
        self.diags.extend(parsed.diags.iter().cloned());
        self.prog.comments.insert(id, parsed.comments.clone());
        (id, parsed.file.clone())
    }

    fn add_module(
        &mut self,
        file: FileId,
        ast: Arc<ast::File>,
        dir: Option<PathBuf>,
        std: bool,
        prelude: bool,
        importer: Option<(ModuleId, Option<ast::Body>)>,
    ) -> ModuleId {
        let id = ModuleId(self.prog.modules.len() as u32);
        self.prog.modules.push(Module {
            file,
            dir,
            std,
            prelude,
            entries: Vec::new(),
            guards: Vec::new(),
            names: HashMap::new(),
            importer,
            prefix: std::mem::take(&mut self.pending_prefix),
        });
        let mut entries = Vec::new();
        let mut guards = Vec::new();
        flatten(&ast.items, &mut Vec::new(), &mut entries, &mut guards);
        let mut names: HashMap<String, (Name, Span)> = HashMap::new();
        let is_root_module = !std && id.0 as usize == STDLIB.iter().filter(|s| s.1).count();
        let mut stacks = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let (name, what) = match &e.item {
                ast::Item::Param(p) => (&p.name, Name::Param(i)),
                ast::Item::Let(l) => (&l.name, Name::Let(i)),
                ast::Item::Decl(d) => {
                    if d.kind.name == "stack" {
                        stacks.push(d.name.span);
                    }
                    (&d.name, Name::Decl(i))
                }
                ast::Item::Import(imp) => {
                    if !e.guards.is_empty() {
                        self.diags.push(
                            Diagnostic::error(codes::SYNTAX, imp.span, "an `import` cannot be inside an `if` block")
                                .with_help(
                                "import at the top level; put the module's declarations under `if` inside the module",
                            ),
                        );
                        continue;
                    }
                    let alias = imp.alias.clone().or_else(|| default_alias(&imp.path, imp.path_span));
                    let prefix = format!(
                        "{}{}.",
                        self.prog.modules[id.0 as usize].prefix,
                        alias.as_ref().map_or("_", |a| a.name.as_str())
                    );
                    self.pending_prefix = prefix;
                    let imported = self.import(id, imp);
                    self.pending_prefix.clear();
                    let Some(mid) = imported else {
                        continue;
                    };
                    match alias {
                        Some(alias) => {
                            self.define(&mut names, &alias, Name::Import(mid));
                        }
                        None => self.diags.push(
                            Diagnostic::error(
                                codes::SYNTAX,
                                imp.path_span,
                                "this module's file name is not a valid name",
                            )
                            .with_help("name it with `as NAME`"),
                        ),
                    }
                    continue;
                }
                _ => continue,
            };
            self.define(&mut names, name, what);
        }
        if !std {
            let is_root = is_root_module;
            if is_root && stacks.is_empty() {
                let span = Span::new(file, 0..0);
                self.diags.push(
                    Diagnostic::error(codes::STACK_COUNT, span, "the root file declares no `stack`").with_help(
                        "add `stack NAME { cloud = aws, region = \"us-east-1\", cluster = \"…\", namespace = \"…\" }`",
                    ),
                );
            }
            if is_root {
                for extra in stacks.iter().skip(1) {
                    self.diags.push(
                        Diagnostic::error(codes::STACK_COUNT, *extra, "a root file declares exactly one `stack`")
                            .with_label(stacks[0], "first stack here"),
                    );
                }
            } else {
                for s in &stacks {
                    self.diags.push(
                        Diagnostic::error(codes::STACK_COUNT, *s, "an imported module cannot declare a `stack`")
                            .with_help("declare the stack in the root file only"),
                    );
                }
            }
        }
        let m = &mut self.prog.modules[id.0 as usize];
        m.entries = entries;
        m.guards = guards;
        m.names = names;
        id
    }

    fn define(&mut self, names: &mut HashMap<String, (Name, Span)>, name: &ast::Ident, what: Name) {
        if let Some((_, first)) = names.get(&name.name) {
            self.diags.push(
                Diagnostic::error(codes::DUPLICATE_NAME, name.span, format!("`{}` is declared twice", name.name))
                    .with_label(*first, "first declared here")
                    .with_help("names of params, lets, imports and declarations share one namespace per module"),
            );
        } else {
            names.insert(name.name.clone(), (what, name.span));
        }
    }

    fn import(&mut self, importer: ModuleId, imp: &ast::Import) -> Option<ModuleId> {
        if let Some(std_name) = imp.path.strip_prefix("std/") {
            let found =
                STDLIB.iter().find(|(p, _, _)| p.strip_prefix("std/") == Some(std_name.trim_end_matches(".ai-stack")));
            let Some((path, _, text)) = found else {
                let names: Vec<_> = STDLIB.iter().map(|s| s.0).collect();
                self.diags.push(
                    Diagnostic::error(
                        codes::IMPORT_UNREADABLE,
                        imp.path_span,
                        format!("no standard module `{}`", imp.path),
                    )
                    .with_help(format!("standard modules: {}", names.join(", "))),
                );
                return None;
            };
            let (file, ast) = self.add_file(format!("<{path}>"), text);
            return Some(self.add_module(file, ast, None, true, false, Some((importer, imp.args.clone()))));
        }
        let dir = self.prog.module(importer).dir.clone()?;
        let target = normalize(&dir.join(&imp.path));
        let inside = |p: &Path, root: &Path| p.starts_with(root);
        let canonical = self.world.canonical(&target);
        let escapes =
            !inside(&target, &self.root_dir) || canonical.as_ref().is_some_and(|c| !inside(c, &self.root_dir));
        if escapes {
            self.diags.push(
                Diagnostic::error(
                    codes::IMPORT_ESCAPES_ROOT,
                    imp.path_span,
                    format!("import `{}` leaves the stack's root folder", imp.path),
                )
                .with_help("keep modules inside the folder of the root file; use `std/…` for the standard library"),
            );
            return None;
        }
        if let Some(pos) = self.loading.iter().position(|p| *p == target) {
            let chain: Vec<String> = self.loading[pos..].iter().map(|p| self.shown(p)).collect();
            self.diags.push(Diagnostic::error(
                codes::IMPORT_CYCLE,
                imp.path_span,
                format!("modules import each other: {} → {}", chain.join(" → "), self.shown(&target)),
            ));
            return None;
        }
        let (file, ast) = match self.parsed.get(&target) {
            Some(x) => x.clone(),
            None => match self.world.read(&target) {
                Ok(text) => {
                    let shown = self.shown(&target);
                    let x = self.add_file(shown, &text);
                    self.parsed.insert(target.clone(), x.clone());
                    x
                }
                Err(e) => {
                    self.diags.push(Diagnostic::error(
                        codes::IMPORT_UNREADABLE,
                        imp.path_span,
                        format!("cannot read module `{}`: {e}", imp.path),
                    ));
                    return None;
                }
            },
        };
        self.loading.push(target.clone());
        let dir = target.parent().map(Path::to_path_buf);
        let id = self.add_module(file, ast, dir, false, false, Some((importer, imp.args.clone())));
        self.loading.pop();
        Some(id)
    }

    /// Gives every schema and enum an id, then resolves their field types.
    fn register_types(&mut self) {
        let mut pending = Vec::new();
        for mi in 0..self.prog.modules.len() {
            let mid = ModuleId(mi as u32);
            for ei in 0..self.prog.modules[mi].entries.len() {
                let (name, what, span) = match &self.prog.modules[mi].entries[ei].item {
                    ast::Item::Schema(s) => {
                        let id = SchemaId(self.prog.types.schemas.len() as u32);
                        self.prog.types.schemas.push(SchemaDef {
                            name: s.name.name.clone(),
                            fields: Vec::new(),
                            span: s.span,
                            doc: None,
                            template: s.template.as_ref().map(|t| t.0.clone()),
                            template_source: None,
                            std: self.prog.modules[mi].std,
                            module: mid,
                        });
                        pending.push((mid, ei, Some(id), None));
                        (s.name.clone(), Name::Schema(id), s.span)
                    }
                    ast::Item::Enum(e) => {
                        let id = EnumId(self.prog.types.enums.len() as u32);
                        self.prog.types.enums.push(EnumDef {
                            name: e.name.name.clone(),
                            variants: Vec::new(),
                            span: e.span,
                            doc: None,
                        });
                        pending.push((mid, ei, None, Some(id)));
                        (e.name.clone(), Name::Enum(id), e.span)
                    }
                    _ => continue,
                };
                let _ = span;
                if SCALARS.contains(&name.name.as_str())
                    || ["list", "map", "range", "ref"].contains(&name.name.as_str())
                {
                    self.diags.push(Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        name.span,
                        format!("`{}` is a built-in type", name.name),
                    ));
                    continue;
                }
                let mut names = std::mem::take(&mut self.prog.modules[mi].names);
                self.define(&mut names, &name, what);
                self.prog.modules[mi].names = names;
                if self.prog.modules[mi].prelude {
                    match what {
                        Name::Schema(id) => {
                            self.prog.std_schemas.insert(name.name.clone(), id);
                        }
                        Name::Enum(id) => {
                            self.prog.std_enums.insert(name.name.clone(), id);
                        }
                        _ => {}
                    }
                }
            }
        }
        self.read_templates();
        for (mid, ei, schema, enum_) in pending {
            let item = match &self.prog.modules[mid.0 as usize].entries[ei].item {
                ast::Item::Schema(s) => ast::Item::Schema(s.clone()),
                ast::Item::Enum(e) => ast::Item::Enum(e.clone()),
                _ => continue,
            };
            match (item, schema, enum_) {
                (ast::Item::Schema(s), Some(id), _) => {
                    let fields = self.field_defs(mid, &s.fields);
                    let doc = self.prog.doc_before(s.name.span.file, s.span.start);
                    let def = &mut self.prog.types.schemas[id.0 as usize];
                    def.fields = fields;
                    def.doc = doc;
                }
                (ast::Item::Enum(e), _, Some(id)) => {
                    let mut variants = Vec::new();
                    let mut seen: HashMap<String, Span> = HashMap::new();
                    for v in &e.variants {
                        if let Some(first) = seen.get(&v.name.name) {
                            self.diags.push(
                                Diagnostic::error(
                                    codes::DUPLICATE_NAME,
                                    v.name.span,
                                    format!("variant `{}` is declared twice", v.name.name),
                                )
                                .with_label(*first, "first declared here"),
                            );
                            continue;
                        }
                        seen.insert(v.name.name.clone(), v.name.span);
                        let payload = v.fields.as_ref().map(|fs| {
                            let fields = self.field_defs(mid, fs);
                            let pid = SchemaId(self.prog.types.schemas.len() as u32);
                            self.prog.types.schemas.push(SchemaDef {
                                name: format!("{}.{}", e.name.name, v.name.name),
                                fields,
                                span: v.span,
                                doc: None,
                                template: None,
                                template_source: None,
                                std: self.prog.modules[mid.0 as usize].std,
                                module: mid,
                            });
                            pid
                        });
                        let doc = self.prog.doc_before(v.span.file, v.span.start);
                        variants.push(VariantDef { name: v.name.name.clone(), payload, span: v.span, doc });
                    }
                    let doc = self.prog.doc_before(e.name.span.file, e.span.start);
                    let def = &mut self.prog.types.enums[id.0 as usize];
                    def.variants = variants;
                    def.doc = doc;
                }
                _ => {}
            }
        }
    }

    /// Reads the template of every user schema that names one, relative to its module's
    /// folder and inside the stack's root folder, like an import.
    fn read_templates(&mut self) {
        for mi in 0..self.prog.modules.len() {
            let dir = self.prog.modules[mi].dir.clone();
            let schemas: Vec<(String, Span)> = self.prog.modules[mi]
                .entries
                .iter()
                .filter_map(|e| match &e.item {
                    ast::Item::Schema(s) => s.template.as_ref().map(|t| (s.name.name.clone(), t.1)),
                    _ => None,
                })
                .collect();
            for (name, span) in schemas {
                let Some(text) = self.prog.sources.get(span.file).map(|f| f.slice(span).trim_matches('"').to_string())
                else {
                    continue;
                };
                let Some(dir) = &dir else { continue };
                let path = normalize(&dir.join(&text));
                let inside = path.starts_with(&self.root_dir)
                    && self.world.canonical(&path).is_none_or(|c| c.starts_with(&self.root_dir));
                let known = [".yaml.hbs", ".yml.hbs", ".json.hbs", ".tf.hbs", ".hcl.hbs"];
                let source = if !known.iter().any(|k| text.ends_with(k)) {
                    let msg = format!(
                        "template `{text}` must end in {}: its format decides how values are escaped",
                        known.join(", ")
                    );
                    self.diags.push(Diagnostic::error(codes::TEMPLATE, span, msg));
                    None
                } else if !inside {
                    self.diags.push(Diagnostic::error(
                        codes::IMPORT_ESCAPES_ROOT,
                        span,
                        format!("template `{text}` leaves the stack's root folder"),
                    ));
                    None
                } else {
                    match self.world.read(&path) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            self.diags.push(Diagnostic::error(
                                codes::TEMPLATE,
                                span,
                                format!("cannot read template `{text}`: {e}"),
                            ));
                            None
                        }
                    }
                };
                // A module imported twice declares the schema twice: fill both.
                for def in self.prog.types.schemas.iter_mut().filter(|d| d.name == name && d.span.file == span.file) {
                    def.template_source = source.clone();
                }
            }
        }
    }

    fn field_defs(&mut self, mid: ModuleId, fields: &[ast::FieldDecl]) -> Vec<FieldDef> {
        let mut out: Vec<FieldDef> = Vec::new();
        for f in fields {
            if let Some(first) = out.iter().find(|o| o.name == f.name.name) {
                self.diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_FIELD,
                        f.name.span,
                        format!("field `{}` is declared twice", f.name.name),
                    )
                    .with_label(first.span, "first declared here"),
                );
                continue;
            }
            let ty = self.resolve_type(mid, &f.ty);
            out.push(FieldDef {
                name: f.name.name.clone(),
                ty,
                default: f.default.clone(),
                constraint: f.constraint.clone(),
                span: f.name.span,
                doc: self.prog.doc_before(f.span.file, f.span.start),
            });
        }
        out
    }

    /// Resolves a type expression in module `mid`.
    pub fn resolve_type(&mut self, mid: ModuleId, t: &ast::TypeExpr) -> Ty {
        resolve_type(&self.prog, mid, t, &mut self.diags)
    }

    fn register_groups(&mut self) {
        for mi in 0..self.prog.modules.len() {
            let mid = ModuleId(mi as u32);
            for ei in 0..self.prog.modules[mi].entries.len() {
                let ast::Item::Decl(d) = &self.prog.modules[mi].entries[ei].item else {
                    continue;
                };
                let (kind_id, decl_name) = (d.kind.clone(), d.name.name.clone());
                let kind = match lookup_type_name(&self.prog, mid, &kind_id.name) {
                    Some(Name::Schema(s)) => Some(s),
                    _ => {
                        let candidates: Vec<String> = self.prog.std_schemas.keys().cloned().collect();
                        let mut diag = Diagnostic::error(
                            codes::UNKNOWN_KIND,
                            kind_id.span,
                            format!("unknown kind `{}`", kind_id.name),
                        );
                        if let Some(s) = crate::check::suggest(&kind_id.name, candidates.iter().map(String::as_str)) {
                            diag = diag.with_help(format!("did you mean `{s}`?"));
                        }
                        self.diags.push(diag);
                        None
                    }
                };
                let gid = self.prog.groups.len();
                self.prog.groups.push(Group { module: mid, entry: ei, kind });
                if let Some((Name::Decl(e), _)) = self.prog.modules[mi].names.get_mut(&decl_name) {
                    if *e == ei {
                        *e = gid;
                    }
                }
            }
        }
    }
}

/// Looks a type name up in the module, then the prelude.
pub fn lookup_type_name(prog: &Program, mid: ModuleId, name: &str) -> Option<Name> {
    let local = prog.module(mid).names.get(name).map(|n| n.0);
    let found = local.filter(|n| matches!(n, Name::Schema(_) | Name::Enum(_)));
    found.or_else(|| {
        prog.std_schemas
            .get(name)
            .map(|s| Name::Schema(*s))
            .or_else(|| prog.std_enums.get(name).map(|e| Name::Enum(*e)))
    })
}

pub fn resolve_type(prog: &Program, mid: ModuleId, t: &ast::TypeExpr, diags: &mut Vec<Diagnostic>) -> Ty {
    match t {
        ast::TypeExpr::Name(id) => {
            if let Some(ty) = scalar(&id.name) {
                return ty;
            }
            match lookup_type_name(prog, mid, &id.name) {
                Some(Name::Schema(s)) => Ty::Record(s),
                Some(Name::Enum(e)) => Ty::Enum(e),
                _ => {
                    let mut d = Diagnostic::error(codes::UNKNOWN_TYPE, id.span, format!("unknown type `{}`", id.name));
                    let names = SCALARS
                        .iter()
                        .copied()
                        .chain(prog.std_schemas.keys().map(String::as_str))
                        .chain(prog.std_enums.keys().map(String::as_str));
                    if let Some(s) = crate::check::suggest(&id.name, names) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                    Ty::Any
                }
            }
        }
        ast::TypeExpr::Generic(id, args, span) => {
            let arity = |n: usize, diags: &mut Vec<Diagnostic>| {
                if args.len() != n {
                    diags.push(Diagnostic::error(
                        codes::UNKNOWN_TYPE,
                        *span,
                        format!("`{}` takes {n} type argument", id.name),
                    ));
                    false
                } else {
                    true
                }
            };
            let first =
                |diags: &mut Vec<Diagnostic>| args.first().map_or(Ty::Any, |a| resolve_type(prog, mid, a, diags));
            match id.name.as_str() {
                "list" if arity(1, diags) => Ty::List(Box::new(first(diags))),
                "map" if arity(1, diags) => Ty::Map(Box::new(first(diags))),
                "range" if arity(1, diags) => Ty::Range(Box::new(first(diags))),
                "ref" if arity(1, diags) => match first(diags) {
                    Ty::Record(s) => Ty::Ref(s),
                    Ty::Any => Ty::Any,
                    _ => {
                        diags.push(Diagnostic::error(
                            codes::UNKNOWN_TYPE,
                            *span,
                            "`ref<…>` takes a schema (a declaration kind)",
                        ));
                        Ty::Any
                    }
                },
                "list" | "map" | "range" | "ref" => Ty::Any,
                _ => {
                    diags.push(Diagnostic::error(
                        codes::UNKNOWN_TYPE,
                        id.span,
                        format!("unknown generic type `{}`", id.name),
                    ));
                    Ty::Any
                }
            }
        }
        ast::TypeExpr::Optional(inner, _) => Ty::Opt(Box::new(resolve_type(prog, mid, inner, diags))),
        ast::TypeExpr::Union(ts, _) => Ty::Union(ts.iter().map(|x| resolve_type(prog, mid, x, diags)).collect()),
        ast::TypeExpr::Error(_) => Ty::Any,
    }
}

fn default_alias(path: &str, span: Span) -> Option<ast::Ident> {
    let stem = Path::new(path).file_name()?.to_str()?.trim_end_matches(".ai-stack");
    let ok = stem.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| ast::Ident { name: stem.to_string(), span })
}

fn flatten(
    items: &[ast::Item],
    guards_here: &mut Vec<(usize, bool)>,
    out: &mut Vec<Entry>,
    guards: &mut Vec<ast::Expr>,
) {
    for item in items {
        match item {
            ast::Item::If(b) => {
                let g = guards.len();
                guards.push(b.cond.clone());
                guards_here.push((g, true));
                flatten(&b.then_items, guards_here, out, guards);
                guards_here.pop();
                guards_here.push((g, false));
                flatten(&b.else_items, guards_here, out, guards);
                guards_here.pop();
            }
            other => out.push(Entry { item: other.clone(), guards: guards_here.clone() }),
        }
    }
}
