/**
 * Which failures to read an import's file are the operator's slip (src/status-list/import-message.ts
 * operatorFileProblem), answered without an apply, and which are not: those go on to the apply, which
 * records them as the lane's own failure (E511). The errors are injected: no ulimit, no broken disk.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type FileProbe, operatorFileProblem } from "../../src/status-list/import-message.js";
import { tempDir } from "./helpers.js";

const fsError = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: injected, stat '/x/f.bundle'`), { code });

/** A file that exists; its stat or its open fails with `code`. */
function failing(at: "stat" | "open", code: string): FileProbe {
  return {
    stat: () => {
      if (at === "stat") throw fsError(code);
      return { isFile: () => true };
    },
    open: () => {
      if (at === "open") throw fsError(code);
    },
  };
}

describe("operatorFileProblem", () => {
  let tmp: ReturnType<typeof tempDir> | null = null;
  afterEach(() => {
    tmp?.cleanup();
    tmp = null;
  });

  // review (session 38): every fs error was the operator's "make the file readable": an EMFILE in the
  // lane was answered so, and no status-list.refused recorded the lane's own failure
  it("an error that is not the operator's (EMFILE, ENFILE, EIO) is no problem of the file: the apply meets it", () => {
    for (const code of ["EMFILE", "ENFILE", "EIO"])
      for (const at of ["stat", "open"] as const)
        for (const asReader of [true, false])
          expect(operatorFileProblem("/x/f.bundle", asReader, failing(at, code)), `${code} ${at}`).toBeNull();
  });

  it("no such file and a path through a file are the operator's, whoever reads it", () => {
    for (const asReader of [true, false]) {
      expect(operatorFileProblem("/x/f.bundle", asReader, failing("stat", "ENOENT"))).toBe(
        "no such file (ENOENT)",
      );
      expect(operatorFileProblem("/x/f.bundle", asReader, failing("stat", "ENOTDIR"))).toBe(
        "a part of the path is not a directory (ENOTDIR)",
      );
    }
  });

  // review (session 38): the CLI's check before asking the lane stats as the CLI's user: a directory on
  // the path that user cannot enter refused a file the lane could read
  it("a permission error is the operator's only for the user who reads the file", () => {
    for (const code of ["EACCES", "EPERM"]) {
      expect(operatorFileProblem("/x/f.bundle", false, failing("stat", code))).toBeNull();
      expect(operatorFileProblem("/x/f.bundle", true, failing("stat", code))).toBe(
        `this user may not read it (${code})`,
      );
      expect(operatorFileProblem("/x/f.bundle", true, failing("open", code))).toBe(
        `this user may not read it (${code})`,
      );
    }
  });

  it("on the real file system: a directory is not a file, a missing file is named, a readable file is none", () => {
    tmp = tempDir("etc-sl-opfile-");
    const dir = join(tmp.dir, "d");
    mkdirSync(dir);
    const f = join(tmp.dir, "f.bundle");
    writeFileSync(f, "x");
    for (const asReader of [true, false]) {
      expect(operatorFileProblem(dir, asReader)).toBe("not a file (a directory?)");
      expect(operatorFileProblem(join(tmp.dir, "nosuch"), asReader)).toBe("no such file (ENOENT)");
      expect(operatorFileProblem(join(f, "x"), asReader)).toBe(
        "a part of the path is not a directory (ENOTDIR)",
      );
      expect(operatorFileProblem(f, asReader)).toBeNull();
    }
  });
});
