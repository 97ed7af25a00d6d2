// The VS Code client for `.ai-stack` files.
//
// Starts `<aistack.path> lsp` (the language server built into the `aistack` binary) over
// stdio, restarts it when `aistack.path` changes, and says clearly when the binary is
// missing. Highlighting, snippets and the language configuration are static contributions
// (package.json); everything else comes from the server.

import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";
import { resolveBinary } from "./binary";

const CLIENT_ID = "aistack";
const CLIENT_NAME = "aistack language server";

let client: LanguageClient | undefined;
let outputChannel: vscode.OutputChannel | undefined;
let traceChannel: vscode.OutputChannel | undefined;

function configuredPath(): string {
  return vscode.workspace.getConfiguration("aistack").get<string>("path", "aistack");
}

async function reportMissing(reason: string): Promise<void> {
  const open = "Open Settings";
  const choice = await vscode.window.showErrorMessage(
    `aistack: cannot start the language server: ${reason}. Install aistack or set \`aistack.path\` to the binary.`,
    open,
  );
  if (choice === open) {
    await vscode.commands.executeCommand("workbench.action.openSettings", "aistack.path");
  }
}

function workspaceCwd(): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === "file" ? folder.uri.fsPath : undefined;
}

function createClient(command: string, cwd: string | undefined): LanguageClient {
  const serverOptions: ServerOptions = {
    command,
    args: ["lsp"],
    transport: TransportKind.stdio,
    options: cwd !== undefined ? { cwd } : {},
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "ai-stack" },
      { scheme: "untitled", language: "ai-stack" },
    ],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.ai-stack") },
    outputChannel,
    traceOutputChannel: traceChannel,
  };
  return new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
}

async function startClient(): Promise<void> {
  const configured = configuredPath();
  const cwd = workspaceCwd();
  const resolved = resolveBinary(configured, process.env.PATH, cwd ?? process.cwd());
  if (!resolved.found) {
    outputChannel?.appendLine(`not starting the server: ${resolved.reason}`);
    await reportMissing(resolved.reason);
    return;
  }
  outputChannel?.appendLine(`starting ${resolved.path} lsp`);
  const next = createClient(resolved.path, cwd);
  try {
    await next.start();
    client = next;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    outputChannel?.appendLine(`the server failed to start: ${message}`);
    await vscode.window.showErrorMessage(
      `aistack: \`${resolved.path} lsp\` failed to start (${message}). Is it an aistack binary with the \`lsp\` command? See the 'aistack' output.`,
    );
  }
}

async function stopClient(): Promise<void> {
  const current = client;
  client = undefined;
  if (current !== undefined) {
    try {
      await current.stop();
    } catch (err) {
      outputChannel?.appendLine(`stopping the server: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

async function restartClient(): Promise<void> {
  await stopClient();
  await startClient();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  outputChannel = vscode.window.createOutputChannel("aistack");
  traceChannel = vscode.window.createOutputChannel("aistack (trace)");
  context.subscriptions.push(outputChannel, traceChannel);
  context.subscriptions.push(vscode.commands.registerCommand("aistack.restartServer", restartClient));
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("aistack.path")) {
        await restartClient();
      }
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
