// Locating the `aistack` binary named by the `aistack.path` setting.
//
// Kept free of the `vscode` module so that it can be tested under plain Node.js.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Where a configured binary was found, or why it was not. */
export type Resolution = { found: true; path: string } | { found: false; reason: string };

/** Expands a leading `~` to the home directory, as a shell would. */
export function expandHome(p: string, home: string = os.homedir()): string {
  if (p === "~") {
    return home;
  }
  if (p.startsWith("~/") || p.startsWith("~\\")) {
    return path.join(home, p.slice(2));
  }
  return p;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) {
      return false;
    }
    if (process.platform !== "win32") {
      fs.accessSync(p, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

/** The names to try for `name` in one directory: on Windows also with each of PATHEXT's extensions. */
function candidates(name: string, platform: NodeJS.Platform, pathExt: string | undefined): string[] {
  if (platform !== "win32" || path.extname(name) !== "") {
    return [name];
  }
  const exts = (pathExt ?? ".EXE;.CMD;.BAT;.COM").split(";").filter((e) => e.length > 0);
  return [name, ...exts.map((e) => name + e.toLowerCase()), ...exts.map((e) => name + e)];
}

/**
 * Resolves the configured binary: a value containing a path separator is taken as a file
 * (relative to `cwd`), a bare name is looked up on `searchPath` like a shell does.
 */
export function resolveBinary(
  configured: string,
  searchPath: string | undefined = process.env.PATH,
  cwd: string = process.cwd(),
  platform: NodeJS.Platform = process.platform,
  pathExt: string | undefined = process.env.PATHEXT,
): Resolution {
  const value = expandHome(configured.trim());
  if (value.length === 0) {
    return { found: false, reason: "the setting `aistack.path` is empty" };
  }
  const names = candidates(value, platform, pathExt);
  if (value.includes("/") || value.includes("\\")) {
    const file = names.map((n) => path.resolve(cwd, n)).find(isExecutableFile);
    return file !== undefined
      ? { found: true, path: file }
      : { found: false, reason: `\`${value}\` does not exist or is not an executable file` };
  }
  const dirs = (searchPath ?? "").split(path.delimiter).filter((d) => d.length > 0);
  for (const dir of dirs) {
    const file = names.map((n) => path.join(dir, n)).find(isExecutableFile);
    if (file !== undefined) {
      return { found: true, path: file };
    }
  }
  return { found: false, reason: `\`${value}\` was not found on PATH` };
}
