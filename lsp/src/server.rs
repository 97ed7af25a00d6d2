//! The language server: LSP requests in, calls to `aistack::ide` queries, LSP results out.
//!
//! Takes: JSON-RPC over stdio (tower-lsp-server). Gives: diagnostics on open and change
//! (a check starts at once; a newer edit stops it), hover, completion, definition, references, rename, document and workspace
//! symbols, semantic tokens, formatting, code actions and inlay hints. Handlers are thin: the
//! language logic is in the compiler's `ide` module, analyses run off the async runtime.

use crate::session::{self, Session};
use aistack::diag::Severity;
use aistack::ide::{self, index::DefKind, CompletionKind, Workspace};
use aistack::syntax::token::Token;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

pub struct Backend {
    client: Client,
    session: Arc<Session>,
}

/// Serves the protocol on stdin/stdout until the client exits.
pub async fn serve_stdio() {
    let (service, socket) = LspService::new(|client| Backend { client, session: Arc::new(Session::new()) });
    Server::new(tokio::io::stdin(), tokio::io::stdout(), socket).serve(service).await;
}

/// Runs a query; a panic in it becomes an internal error for this request instead of taking
/// the server down (it is printed on stderr, which the editor shows in its log).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| Error::internal_error())
}

fn path_of(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

const TOKEN_TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::NUMBER,
    SemanticTokenType::STRING,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::TYPE,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::PARAMETER,
];

impl Backend {
    /// The checked analysis of the stack `uri` belongs to, off the async runtime.
    async fn workspace(&self, uri: &Uri) -> Option<(Arc<Workspace>, aistack::source::FileId)> {
        self.workspace_of(uri, true).await
    }

    /// For requests made while typing: the checked analysis if current, else names only.
    async fn names(&self, uri: &Uri) -> Option<(Arc<Workspace>, aistack::source::FileId)> {
        self.workspace_of(uri, false).await
    }

    async fn workspace_of(&self, uri: &Uri, full: bool) -> Option<(Arc<Workspace>, aistack::source::FileId)> {
        let path = path_of(uri)?;
        let session = self.session.clone();
        let p = path.clone();
        let ws = tokio::task::spawn_blocking(move || if full { session.analysis(&p) } else { session.names(&p) })
            .await
            .ok()??;
        let file = self.session.file_id(&ws, &path)?;
        Some((ws, file))
    }

    async fn at(&self, pos: &TextDocumentPositionParams) -> Option<(Arc<Workspace>, aistack::source::FileId, u32)> {
        let (ws, file) = self.names(&pos.text_document.uri).await?;
        let text = &ws.prog.sources.get(file)?.text;
        let offset = session::offset(text, pos.position);
        Some((ws, file, offset))
    }

    /// An analysis for a request at a cursor, possibly made before the last edit
    /// ([`Session::view`]), off the async runtime.
    async fn view(&self, pos: &TextDocumentPositionParams, completion: bool) -> Option<session::View> {
        let path = path_of(&pos.text_document.uri)?;
        let session = self.session.clone();
        let at = pos.position;
        tokio::task::spawn_blocking(move || session.view(&path, at, completion)).await.ok()?
    }

    fn view_location(&self, v: &session::View, span: aistack::source::Span) -> Option<Location> {
        Some(Location { uri: self.session.uri(&v.ws, span.file)?, range: v.range(span)? })
    }

    fn location(&self, ws: &Workspace, span: aistack::source::Span) -> Option<Location> {
        let f = ws.prog.sources.get(span.file)?;
        Some(Location { uri: self.session.uri(ws, span.file)?, range: session::range(f, span.start, span.end) })
    }

    /// Checks the stack of `uri` and publishes the diagnostics of every user file in it, unless
    /// an edit made the text stale before the check ended (the newer edit's check publishes).
    async fn publish(&self, uri: Uri) {
        let Some(path) = path_of(&uri) else { return };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let session = self.session.clone();
        let early: session::Early = Box::new({
            let session = session.clone();
            move |diags, sources, versions| {
                let _ = tx.send(lsp_diagnostics(&session, diags, sources, versions));
            }
        });
        tokio::task::spawn_blocking(move || session.analysis_early(&path, early));
        let Ok(per_file) = rx.await else { return };
        for (u, diags, version) in per_file {
            self.client.publish_diagnostics(u, diags, version).await;
        }
    }

    /// After an edit: the check starts at once, with no debounce (a newer edit stops it, see
    /// [`Session::analysis_early`], so a burst of edits never queues checks of old texts), and
    /// the names-only analysis of the new text and its index are made beside it on their own
    /// worker: they serve the requests that cannot use an older analysis, and its parse is the
    /// check's (the parse cache makes one parse of a text for both).
    fn publish_now(&self, uri: Uri) {
        let generation = self.session.generation();
        if let Some(path) = path_of(&uri) {
            let session = self.session.clone();
            tokio::task::spawn_blocking(move || {
                if session.generation() == generation {
                    if let Some(ws) = session.names(&path) {
                        session.names_worker.run(move || {
                            ws.index();
                        });
                    }
                }
            });
        }
        let me = Backend { client: self.client.clone(), session: self.session.clone() };
        tokio::spawn(async move { me.publish(uri).await });
    }
}

/// The protocol's diagnostics per user file of a check (every file loaded from the user's
/// folders gets a list, empty ones included, so fixed errors disappear), with the version of
/// the text that was checked.
fn lsp_diagnostics(
    session: &Session,
    diags: &[aistack::diag::Diagnostic],
    sources: &aistack::source::SourceMap,
    versions: &HashMap<PathBuf, i32>,
) -> Vec<(Uri, Vec<Diagnostic>, Option<i32>)> {
    let mut per_file: HashMap<Uri, Vec<Diagnostic>> = HashMap::new();
    for (id, f) in sources.iter() {
        if !f.name.starts_with('<') {
            if let Some(u) = session.uri_in(sources, id) {
                per_file.entry(u).or_default();
            }
        }
    }
    let location = |span: aistack::source::Span| {
        let f = sources.get(span.file)?;
        Some(Location { uri: session.uri_in(sources, span.file)?, range: session::range(f, span.start, span.end) })
    };
    for d in diags {
        let Some(span) = d.primary else { continue };
        let Some(f) = sources.get(span.file) else { continue };
        let Some(u) = session.uri_in(sources, span.file) else { continue };
        let mut message = d.message.clone();
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .filter_map(|l| {
                Some(DiagnosticRelatedInformation { location: location(l.span)?, message: l.message.clone() })
            })
            .collect();
        let diag = Diagnostic {
            range: session::range(f, span.start, span.end),
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
                Severity::Info => DiagnosticSeverity::INFORMATION,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            // Policy rules (AIS…) link to their rule page, diagnostic codes to theirs.
            code_description: aistack::check::policy::rule_of(d.code)
                .map_or_else(|| format!("https://aistack.dev/docs/codes/{}", d.code), |r| r.help_uri())
                .parse()
                .ok()
                .map(|href| CodeDescription { href }),
            source: Some("aistack".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..Diagnostic::default()
        };
        per_file.entry(u).or_default().push(diag);
    }
    per_file
        .into_iter()
        .map(|(u, diags)| {
            let version = path_of(&u).and_then(|p| {
                let canon = p.canonicalize().unwrap_or_else(|_| p.clone());
                versions.get(&p).or_else(|| versions.get(&canon)).copied()
            });
            (u, diags, version)
        })
        .collect()
}

impl LanguageServer for Backend {
    async fn initialize(&self, _: InitializeParams) -> Result<InitializeResult> {
        Ok(InitializeResult {
            server_info: Some(ServerInfo { name: "aistack".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
            offset_encoding: None,
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".into(), "=".into(), " ".into(), "\"".into()]),
                    ..CompletionOptions::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                document_symbol_provider: Some(OneOf::Left(true)),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
                inlay_hint_provider: Some(OneOf::Left(true)),
                semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
                    SemanticTokensOptions {
                        legend: SemanticTokensLegend { token_types: TOKEN_TYPES.to_vec(), token_modifiers: vec![] },
                        full: Some(SemanticTokensFullOptions::Bool(true)),
                        range: None,
                        ..SemanticTokensOptions::default()
                    },
                )),
                ..ServerCapabilities::default()
            },
        })
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, p: DidOpenTextDocumentParams) {
        if let Some(path) = path_of(&p.text_document.uri) {
            self.session.set_doc(path, p.text_document.text, p.text_document.version);
        }
        self.publish(p.text_document.uri).await;
    }

    async fn did_change(&self, p: DidChangeTextDocumentParams) {
        let Some(path) = path_of(&p.text_document.uri) else { return };
        if let Some(change) = p.content_changes.into_iter().last() {
            self.session.set_doc(path, change.text, p.text_document.version);
        }
        self.publish_now(p.text_document.uri);
    }

    async fn did_close(&self, p: DidCloseTextDocumentParams) {
        if let Some(path) = path_of(&p.text_document.uri) {
            self.session.close_doc(&path);
        }
    }

    async fn hover(&self, p: HoverParams) -> Result<Option<Hover>> {
        let Some(v) = self.view(&p.text_document_position_params, false).await else { return Ok(None) };
        let Some(h) = guarded(|| ide::hover(&v.ws, v.file, v.offset))? else { return Ok(None) };
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: h.markdown }),
            range: if h.span.file == v.file { v.range(h.span) } else { None },
        }))
    }

    async fn goto_definition(&self, p: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let Some(v) = self.view(&p.text_document_position_params, false).await else { return Ok(None) };
        Ok(guarded(|| ide::definition(&v.ws, v.file, v.offset))?
            .and_then(|s| self.view_location(&v, s))
            .map(GotoDefinitionResponse::Scalar))
    }

    async fn references(&self, p: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let Some((ws, file, offset)) = self.at(&p.text_document_position).await else { return Ok(None) };
        let spans = guarded(|| ide::references(&ws, file, offset, p.context.include_declaration))?;
        Ok(Some(spans.into_iter().filter_map(|s| self.location(&ws, s)).collect()))
    }

    async fn prepare_rename(&self, p: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        let Some((ws, file, offset)) = self.at(&p).await else { return Ok(None) };
        let Some(d) = ws.index().at(file, offset) else { return Ok(None) };
        let def = &ws.index().defs[d];
        if def.std {
            return Err(Error::invalid_params(format!("`{}` is defined in the standard library", def.name)));
        }
        let span = ws
            .index()
            .uses
            .iter()
            .find(|u| u.def == d && u.span.file == file && u.span.start <= offset && offset <= u.span.end)
            .map_or(def.span, |u| u.span);
        let f = ws.prog.sources.get(file).ok_or_else(Error::internal_error)?;
        Ok(Some(PrepareRenameResponse::Range(session::range(f, span.start, span.end))))
    }

    async fn rename(&self, p: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let Some((ws, file, offset)) = self.at(&p.text_document_position).await else { return Ok(None) };
        let spans = guarded(|| ide::rename(&ws, file, offset, &p.new_name))?.map_err(Error::invalid_params)?;
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        for s in spans {
            let Some(loc) = self.location(&ws, s) else { continue };
            changes.entry(loc.uri).or_default().push(TextEdit { range: loc.range, new_text: p.new_name.clone() });
        }
        Ok(Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }))
    }

    async fn document_symbol(&self, p: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        let Some((ws, file)) = self.workspace(&p.text_document.uri).await else { return Ok(None) };
        let f = ws.prog.sources.get(file).ok_or_else(Error::internal_error)?;
        #[allow(deprecated)]
        let symbols = guarded(|| ide::symbols(&ws, file))?
            .into_iter()
            .map(|s| DocumentSymbol {
                name: s.name,
                detail: Some(s.kind),
                kind: symbol_kind(s.def_kind),
                tags: None,
                deprecated: None,
                range: session::range(f, s.full.start.min(s.span.start), s.full.end.max(s.span.end)),
                selection_range: session::range(f, s.span.start, s.span.end),
                children: None,
            })
            .collect();
        Ok(Some(DocumentSymbolResponse::Nested(symbols)))
    }

    async fn symbol(&self, p: WorkspaceSymbolParams) -> Result<Option<WorkspaceSymbolResponse>> {
        let roots: Vec<PathBuf> =
            self.session.overlay.lock().map(|o| o.docs.keys().cloned().collect()).unwrap_or_default();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for path in roots {
            let Some(uri) = Uri::from_file_path(&path) else { continue };
            let Some((ws, _)) = self.workspace(&uri).await else { continue };
            #[allow(deprecated)]
            for s in guarded(|| ide::workspace_symbols(&ws, &p.query))? {
                let Some(location) = self.location(&ws, s.span) else { continue };
                if seen.insert((location.uri.to_string(), s.span.start)) {
                    out.push(SymbolInformation {
                        name: s.name,
                        kind: symbol_kind(s.def_kind),
                        tags: None,
                        deprecated: None,
                        location,
                        container_name: Some(s.kind),
                    });
                }
            }
        }
        Ok(Some(WorkspaceSymbolResponse::Flat(out)))
    }

    async fn completion(&self, p: CompletionParams) -> Result<Option<CompletionResponse>> {
        let Some(v) = self.view(&p.text_document_position, true).await else { return Ok(None) };
        let now = session::offset(&v.current.text, p.text_document_position.position);
        let items = guarded(|| ide::completion_in(&v.ws, v.file, &v.current.text, now, v.offset))?
            .into_iter()
            .map(|c| CompletionItem {
                label: c.label,
                kind: Some(match c.kind {
                    CompletionKind::Field => CompletionItemKind::FIELD,
                    CompletionKind::Variant => CompletionItemKind::ENUM_MEMBER,
                    CompletionKind::Reference => CompletionItemKind::REFERENCE,
                    CompletionKind::Unit => CompletionItemKind::UNIT,
                    CompletionKind::Signal => CompletionItemKind::PROPERTY,
                    CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                    CompletionKind::Kind => CompletionItemKind::CLASS,
                    CompletionKind::Module => CompletionItemKind::MODULE,
                }),
                detail: Some(c.detail),
                documentation: c
                    .doc
                    .map(|d| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: d })),
                insert_text: c.insert,
                ..CompletionItem::default()
            })
            .collect();
        Ok(Some(CompletionResponse::Array(items)))
    }

    async fn formatting(&self, p: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let Some(path) = path_of(&p.text_document.uri) else { return Ok(None) };
        let Some(text) = self.session.doc(&path).or_else(|| std::fs::read_to_string(&path).ok()) else {
            return Ok(None);
        };
        let Ok(formatted) = guarded(|| aistack::fmt::format(&text))? else { return Ok(None) };
        if formatted == text {
            return Ok(Some(Vec::new()));
        }
        let f = aistack::source::SourceFile::new("doc", text.clone());
        Ok(Some(vec![TextEdit { range: session::range(&f, 0, text.len() as u32), new_text: formatted }]))
    }

    async fn code_action(&self, p: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let Some((ws, file)) = self.workspace(&p.text_document.uri).await else { return Ok(None) };
        let f = ws.prog.sources.get(file).ok_or_else(Error::internal_error)?;
        let (start, end) = (session::offset(&f.text, p.range.start), session::offset(&f.text, p.range.end));
        let actions = guarded(|| ide::code_actions(&ws, file, start, end))?
            .into_iter()
            .map(|a| {
                let edit = TextEdit { range: session::range(f, a.span.start, a.span.end), new_text: a.new_text };
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: a.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(p.text_document.uri.clone(), vec![edit])])),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: Some(true),
                    ..CodeAction::default()
                })
            })
            .collect();
        Ok(Some(actions))
    }

    async fn inlay_hint(&self, p: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        let Some((ws, file)) = self.workspace(&p.text_document.uri).await else { return Ok(None) };
        let f = ws.prog.sources.get(file).ok_or_else(Error::internal_error)?;
        Ok(Some(
            guarded(|| ide::inlay_hints(&ws, file))?
                .into_iter()
                .map(|(at, label)| InlayHint {
                    position: session::position(f, at),
                    label: InlayHintLabel::String(label),
                    kind: Some(InlayHintKind::TYPE),
                    text_edits: None,
                    tooltip: None,
                    padding_left: Some(true),
                    padding_right: None,
                    data: None,
                })
                .collect(),
        ))
    }

    async fn semantic_tokens_full(&self, p: SemanticTokensParams) -> Result<Option<SemanticTokensResult>> {
        let Some((ws, file)) = self.workspace(&p.text_document.uri).await else { return Ok(None) };
        let f = ws.prog.sources.get(file).ok_or_else(Error::internal_error)?;
        Ok(Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data: guarded(|| semantic_tokens(&ws, file, f))?,
        })))
    }
}

fn symbol_kind(k: DefKind) -> SymbolKind {
    match k {
        DefKind::Param => SymbolKind::CONSTANT,
        DefKind::Let => SymbolKind::VARIABLE,
        DefKind::Decl => SymbolKind::OBJECT,
        DefKind::Import => SymbolKind::MODULE,
        DefKind::Schema => SymbolKind::STRUCT,
        DefKind::Enum => SymbolKind::ENUM,
        DefKind::Variant => SymbolKind::ENUM_MEMBER,
        DefKind::Field => SymbolKind::FIELD,
        DefKind::Local => SymbolKind::VARIABLE,
    }
}

/// Semantic tokens from the lexer (keywords, numbers, strings, comments, operators) and the
/// index (what each name stands for), one line each, in the protocol's relative encoding.
fn semantic_tokens(
    ws: &Workspace,
    file: aistack::source::FileId,
    f: &aistack::source::SourceFile,
) -> Vec<SemanticToken> {
    let lexed = aistack::syntax::lexer::lex(file, &f.text);
    let mut raw: Vec<(u32, u32, u32)> = Vec::new();
    for (tok, span) in &lexed.tokens {
        let ty = match tok {
            Token::Kw(_) => Some(0),
            Token::Int(_) | Token::Float(_) | Token::Quantity(..) => Some(1),
            Token::StrText(_) | Token::StrStart | Token::StrEnd => Some(2),
            Token::Op(_) => Some(4),
            Token::Ident(_) => ws.index().at(file, span.start).map(|d| match ws.index().defs[d].kind {
                DefKind::Schema | DefKind::Enum => 5,
                DefKind::Field => 7,
                DefKind::Variant => 8,
                DefKind::Import => 9,
                DefKind::Param => 10,
                _ => 6,
            }),
            _ => None,
        };
        if let Some(ty) = ty {
            raw.push((span.start, span.end, ty));
        }
    }
    for c in &lexed.comments {
        raw.push((c.start, c.end, 3));
    }
    raw.sort();
    let mut out = Vec::new();
    let (mut prev_line, mut prev_col) = (0u32, 0u32);
    let mut last_end = 0u32;
    for (start, end, ty) in raw {
        if start < last_end {
            continue;
        }
        last_end = end;
        // One token per line of a multi-line comment or string.
        let mut s = start;
        while s < end {
            let line_end = f.text[s as usize..end as usize].find('\n').map_or(end, |i| s + i as u32);
            let p = session::position(f, s);
            let e = session::position(f, line_end);
            if e.character > p.character {
                let delta_line = p.line - prev_line;
                let delta_start = if delta_line == 0 { p.character - prev_col } else { p.character };
                out.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length: e.character - p.character,
                    token_type: ty,
                    token_modifiers_bitset: 0,
                });
                prev_line = p.line;
                prev_col = p.character;
            }
            s = line_end + 1;
        }
    }
    out
}
