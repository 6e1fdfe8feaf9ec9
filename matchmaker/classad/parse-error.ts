/** Thrown by parseExpr/parseClassAd: where the text stops making sense, and why. */
export class ClassAdParseError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`line ${line}, column ${column}: ${detail}`);
    this.name = "ClassAdParseError";
  }
}
