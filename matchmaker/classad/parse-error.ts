/** Thrown by parseExpr/parseClassAd: where the text stops making sense (1-based), and why. */
export class ClassAdParseError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(message);
    this.name = "ClassAdParseError";
  }

  /** "line L, column C: message", for one-line reports. */
  describe(): string {
    return `line ${this.line}, column ${this.column}: ${this.message}`;
  }
}
