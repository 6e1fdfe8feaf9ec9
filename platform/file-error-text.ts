// Why a file could not be read, in words a user reads ("no such file"), with the system's code
// after it for those who search for it: one wording for every file a command line or a config names.
const WORDS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "a folder, not a file",
  ENOTDIR: "a part of the path is not a folder",
  ELOOP: "too many symbolic links",
};

export function fileErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return e instanceof Error ? e.message : String(e);
  const words = WORDS[code];
  return words === undefined ? code : `${words} (${code})`;
}
