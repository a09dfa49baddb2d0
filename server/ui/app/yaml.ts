/**
 * A YAML 1.2 reader for checking values edited in the console (and showing them as JSON):
 * block mappings and sequences, flow collections, plain, quoted and block scalars (| and >
 * with chomping), comments, several documents, anchors and aliases; tags are read and
 * ignored. It says which line is wrong, as kubectl's YAML errors do. Explicit `? ` keys and
 * directives beyond skipping them are not supported (they are rare in stored values).
 */

/** A syntax error at a line (1-based). */
export class YamlError extends Error {
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

/** The documents of a YAML text as plain values (a text without documents is one null). */
export function parseYaml(text: string): unknown[] {
  return new Reader(text.replace(/\r\n?/g, "\n")).documents();
}

const FLOW_END = new Set([",", "[", "]", "{", "}"]);

class Reader {
  #pos = 0;
  readonly #anchors = new Map<string, unknown>();
  constructor(readonly src: string) {}

  documents(): unknown[] {
    const docs: unknown[] = [];
    let explicit = false;
    for (;;) {
      this.#skipBlank();
      while (this.#at("%") && this.#col() === 0) this.#skipLine();
      this.#skipBlank();
      if (this.#eof()) break;
      if (this.#atMarker("---")) {
        this.#pos += 3;
        explicit = true;
        this.#skipSpaces();
        if (this.#atLineEnd()) {
          this.#skipBlank();
          if (this.#eof() || this.#atMarker("---") || this.#atMarker("...")) {
            docs.push(null);
            continue;
          }
        }
      } else if (docs.length > 0 && !explicit) {
        this.#fail("expected a document start (---)");
      }
      docs.push(this.#node(-1, true));
      this.#skipBlank();
      if (this.#atMarker("...")) {
        this.#pos += 3;
        explicit = false;
        continue;
      }
      if (!this.#eof() && !this.#atMarker("---")) this.#fail("unexpected content after the document");
    }
    return docs.length === 0 ? [null] : docs;
  }

  /** A node whose parent is indented `parent`; `mapAllowed` is false for a map value on a key's line. */
  #node(parent: number, mapAllowed: boolean): unknown {
    let anchor: string | null = null;
    for (;;) {
      if (this.#at("&")) anchor = this.#name();
      else if (this.#at("!")) this.#name();
      else break;
      this.#skipSpaces();
    }
    if (this.#atLineEnd()) {
      // Properties alone on the line: the content follows, indented more.
      this.#skipBlank();
      if (this.#eof() || this.#col() <= parent || this.#atMarker("---") || this.#atMarker("...")) {
        return this.#anchor(anchor, null);
      }
      mapAllowed = true;
    }
    const c = this.src[this.#pos];
    let value: unknown;
    if (c === "*") {
      const name = this.#name();
      if (!this.#anchors.has(name)) this.#fail(`unknown alias *${name}`);
      value = this.#anchors.get(name);
    } else if (c === "-" && this.#isSep(this.#pos + 1)) {
      if (!mapAllowed) this.#fail("sequence entries are not allowed here");
      value = this.#blockSeq(this.#col());
    } else if (c === "[" || c === "{") {
      value = this.#flow();
      this.#skipSpaces();
      if (this.#at(":") && this.#isSep(this.#pos + 1)) {
        this.#fail("a flow collection as a key is not supported");
      }
    } else if (c === "|" || c === ">") {
      value = this.#blockScalar(parent);
    } else if (c === "?" && this.#isSep(this.#pos + 1)) {
      this.#fail("explicit keys (? ) are not supported");
    } else {
      const col = this.#col();
      const start = this.#pos;
      const quoted = c === '"' || c === "'";
      const first = quoted ? this.#quoted() : this.#plainLine(false);
      this.#skipSpaces();
      if (this.#at(":") && this.#isSep(this.#pos + 1)) {
        if (!mapAllowed) this.#fail("mapping values are not allowed here");
        if (this.src.slice(start, this.#pos).includes("\n")) this.#fail("a key must be on one line");
        value = this.#blockMap(col, keyText(first, quoted));
      } else if (quoted) {
        value = first;
      } else {
        value = resolvePlain(this.#plainContinuation(first, parent));
      }
    }
    return this.#anchor(anchor, value);
  }

  #anchor(name: string | null, value: unknown): unknown {
    if (name !== null) this.#anchors.set(name, value);
    return value;
  }

  #blockMap(col: number, firstKey: string): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    let key = firstKey;
    for (;;) {
      this.#pos++; // the ':'
      if (Object.hasOwn(map, key)) this.#fail(`duplicate key ${JSON.stringify(key)}`);
      this.#skipSpaces();
      let value: unknown = null;
      if (this.#atLineEnd()) {
        this.#skipBlank();
        if (!this.#eof() && !this.#atMarker("---") && !this.#atMarker("...")) {
          if (this.#col() > col) value = this.#node(col, true);
          else if (this.#col() === col && this.#at("-") && this.#isSep(this.#pos + 1)) {
            value = this.#blockSeq(col);
          }
        }
      } else {
        value = this.#node(col, false);
      }
      map[key] = value;
      this.#skipBlank();
      if (this.#eof() || this.#col() < col || this.#atMarker("---") || this.#atMarker("...")) return map;
      if (this.#col() > col) this.#fail("bad indentation of a mapping entry");
      if (this.#at("-") && this.#isSep(this.#pos + 1)) {
        this.#fail("expected a mapping key, found a sequence entry");
      }
      const quoted = this.#at('"') || this.#at("'");
      const k = quoted ? this.#quoted() : this.#plainLine(false);
      this.#skipSpaces();
      if (!(this.#at(":") && this.#isSep(this.#pos + 1))) this.#fail("expected ':' after a mapping key");
      key = keyText(k, quoted);
    }
  }

  #blockSeq(col: number): unknown[] {
    const items: unknown[] = [];
    for (;;) {
      this.#pos++; // the '-'
      this.#skipSpaces();
      let item: unknown = null;
      if (this.#atLineEnd()) {
        this.#skipBlank();
        if (!this.#eof() && this.#col() > col) item = this.#node(col, true);
      } else {
        item = this.#node(col, true);
      }
      items.push(item);
      this.#skipBlank();
      if (this.#eof() || this.#col() < col || this.#atMarker("---") || this.#atMarker("...")) return items;
      if (this.#col() > col) this.#fail("bad indentation of a sequence entry");
      if (!(this.#at("-") && this.#isSep(this.#pos + 1))) return items; // a key of the enclosing map
    }
  }

  /** `|` or `>` with its header; the content lines are those indented more than the parent. */
  #blockScalar(parent: number): string {
    const literal = this.#at("|");
    this.#pos++;
    let chomp = "clip";
    let explicit = 0;
    for (let i = 0; i < 2; i++) {
      const h = this.src[this.#pos];
      if (h === "+" || h === "-") {
        chomp = h === "+" ? "keep" : "strip";
        this.#pos++;
      } else if (h >= "1" && h <= "9") {
        explicit = Number(h);
        this.#pos++;
      }
    }
    this.#skipSpaces();
    if (!this.#atLineEnd()) this.#fail("unexpected text after a block scalar indicator");
    this.#skipLine();
    if (this.#at("\n")) this.#pos++;
    let indent = explicit > 0 ? Math.max(parent, 0) + explicit : -1;
    const lines: string[] = [];
    while (!this.#eof()) {
      const end = this.#lineEnd();
      const line = this.src.slice(this.#pos, end);
      const spaces = line.length - line.trimStart().length;
      if (line.trim() === "") {
        lines.push(line.slice(Math.max(indent, 0)));
      } else {
        if (indent < 0) {
          if (spaces <= parent) break;
          indent = spaces;
        }
        if (spaces < indent) break;
        lines.push(line.slice(indent));
      }
      this.#pos = end < this.src.length ? end + 1 : end;
    }
    let trailing = 0;
    while (trailing < lines.length && lines[lines.length - 1 - trailing].trim() === "") trailing++;
    const body = lines.slice(0, lines.length - trailing);
    const text = literal ? body.join("\n") : fold(body);
    if (chomp === "strip" || body.length === 0) return chomp === "keep" ? "\n".repeat(trailing) : text;
    return text + "\n" + (chomp === "keep" ? "\n".repeat(trailing) : "");
  }

  #flow(): unknown {
    const open = this.src[this.#pos++];
    const close = open === "[" ? "]" : "}";
    const startLine = this.#line();
    const seq: unknown[] = [];
    const map: Record<string, unknown> = {};
    for (;;) {
      this.#skipFlowBlank(startLine);
      if (this.#at(close)) {
        this.#pos++;
        return open === "[" ? seq : map;
      }
      const key = this.#flowNode(startLine);
      this.#skipFlowBlank(startLine);
      let value: unknown = null;
      let pair = false;
      if (this.#at(":")) {
        pair = true;
        this.#pos++;
        this.#skipFlowBlank(startLine);
        if (!this.#at(",") && !this.#at(close)) value = this.#flowNode(startLine);
        this.#skipFlowBlank(startLine);
      }
      if (open === "{") {
        const k = String(key);
        if (Object.hasOwn(map, k)) this.#fail(`duplicate key ${JSON.stringify(k)}`);
        map[k] = value;
      } else seq.push(pair ? { [String(key)]: value } : key);
      if (this.#at(",")) this.#pos++;
      else if (!this.#at(close)) this.#fail(`expected ',' or '${close}' in a flow collection`);
    }
  }

  #flowNode(startLine: number): unknown {
    let anchor: string | null = null;
    for (;;) {
      if (this.#at("&")) anchor = this.#name();
      else if (this.#at("!")) this.#name();
      else break;
      this.#skipFlowBlank(startLine);
    }
    let value: unknown;
    if (this.#at("*")) {
      const name = this.#name();
      if (!this.#anchors.has(name)) this.#fail(`unknown alias *${name}`);
      value = this.#anchors.get(name);
    } else if (this.#at("[") || this.#at("{")) value = this.#flow();
    else if (this.#at('"') || this.#at("'")) value = this.#quoted();
    else value = resolvePlain(this.#plainLine(true));
    return this.#anchor(anchor, value);
  }

  /** A plain scalar's text up to the end of the line, a `: `, a ` #` (or a flow indicator). */
  #plainLine(flow: boolean): string {
    const start = this.#pos;
    const src = this.src;
    while (this.#pos < src.length) {
      const c = src[this.#pos];
      if (c === "\n") break;
      if (c === ":" && (this.#isSep(this.#pos + 1) || (flow && FLOW_END.has(src[this.#pos + 1])))) break;
      if (c === "#" && this.#pos > start && (src[this.#pos - 1] === " " || src[this.#pos - 1] === "\t")) {
        break;
      }
      if (flow && FLOW_END.has(c)) break;
      this.#pos++;
    }
    if (this.#pos === start && !flow) this.#fail(`unexpected character ${JSON.stringify(src[start] ?? "")}`);
    return src.slice(start, this.#pos).trim();
  }

  /** Lines of a multi-line plain scalar: those indented more than the parent, folded. */
  #plainContinuation(first: string, parent: number): string {
    const lines = [first];
    for (;;) {
      const save = this.#pos;
      this.#skipSpaces();
      if (!this.#at("\n")) {
        this.#pos = save;
        break;
      }
      // Look past blank lines (they become newlines in the folded text).
      let p = this.#pos;
      let blanks = 0;
      for (;;) {
        const end = this.src.indexOf("\n", p + 1);
        const line = this.src.slice(p + 1, end < 0 ? this.src.length : end);
        if (line.trim() !== "" || end < 0) break;
        blanks++;
        p = end;
      }
      const lineStart = p + 1;
      const line = this.src.slice(lineStart, this.#lineEnd(lineStart));
      const spaces = line.length - line.trimStart().length;
      const content = line.trim();
      if (content === "" || spaces <= parent || content.startsWith("#")) {
        this.#pos = save;
        break;
      }
      if (spaces === 0 && (content.startsWith("---") || content.startsWith("..."))) {
        this.#pos = save;
        break;
      }
      this.#pos = lineStart + spaces;
      const text = this.#plainLine(false);
      this.#skipSpaces();
      if (this.#at(":") && this.#isSep(this.#pos + 1)) this.#fail("mapping values are not allowed here");
      lines.push(...Array(blanks).fill(""), text);
    }
    return fold(lines);
  }

  #quoted(): string {
    const q = this.src[this.#pos];
    const line = this.#line();
    let out = "";
    this.#pos++;
    for (;;) {
      if (this.#eof()) throw new YamlError(line, "unterminated quoted scalar");
      const c = this.src[this.#pos];
      if (c === q) {
        if (q === "'" && this.src[this.#pos + 1] === "'") {
          out += "'";
          this.#pos += 2;
          continue;
        }
        this.#pos++;
        return foldQuoted(out);
      }
      if (q === '"' && c === "\\") {
        out += this.#escape();
        continue;
      }
      out += c;
      this.#pos++;
    }
  }

  #escape(): string {
    const e = this.src[this.#pos + 1];
    this.#pos += 2;
    const simple: Record<string, string> = {
      "0": "\0",
      a: "\x07",
      b: "\b",
      t: "\t",
      "\t": "\t",
      n: "\n",
      v: "\v",
      f: "\f",
      r: "\r",
      e: "\x1b",
      " ": " ",
      '"': '"',
      "/": "/",
      "\\": "\\",
      N: "\x85",
      _: "\xa0",
      L: "\u2028",
      P: "\u2029",
    };
    if (e in simple) return simple[e];
    if (e === "\n") {
      while (this.#at(" ") || this.#at("\t")) this.#pos++;
      return "\u0000\u0001"; // a line continuation: removed by foldQuoted with no space
    }
    const len = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
    const hex = this.src.slice(this.#pos, this.#pos + len);
    if (len === 0 || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) {
      this.#fail(`unknown escape \\${e ?? ""}`);
    }
    this.#pos += len;
    return String.fromCodePoint(parseInt(hex, 16));
  }

  #name(): string {
    const start = ++this.#pos;
    while (this.#pos < this.src.length && !/[\s,[\]{}]/.test(this.src[this.#pos])) this.#pos++;
    return this.src.slice(start, this.#pos);
  }

  #skipSpaces(): void {
    while (this.#at(" ") || this.#at("\t")) this.#pos++;
  }

  /** Past spaces, comments and line breaks, to the next content; tabs may not indent it. */
  #skipBlank(): void {
    for (;;) {
      this.#skipSpaces();
      if (this.#at("#")) this.#skipLine();
      else if (this.#at("\n")) this.#pos++;
      else break;
    }
    const indent = this.src.slice(this.#lineStart(this.#pos), this.#pos);
    if (!this.#eof() && indent.includes("\t") && indent.trim() === "") {
      this.#fail("tabs are not allowed for indentation");
    }
  }

  #skipFlowBlank(startLine: number): void {
    for (;;) {
      this.#skipSpaces();
      if (this.#at("#")) this.#skipLine();
      else if (this.#at("\n")) this.#pos++;
      else break;
    }
    if (this.#eof()) throw new YamlError(startLine, "unterminated flow collection");
  }

  #skipLine(): void {
    this.#pos = this.#lineEnd();
  }

  #atLineEnd(): boolean {
    return this.#eof() || this.#at("\n") || this.#at("#");
  }

  #atMarker(m: string): boolean {
    return this.#col() === 0 && this.src.startsWith(m, this.#pos) && this.#isSep(this.#pos + 3);
  }

  #isSep(i: number): boolean {
    return i >= this.src.length || this.src[i] === " " || this.src[i] === "\n" || this.src[i] === "\t";
  }

  #at(s: string): boolean {
    return this.src[this.#pos] === s;
  }

  #eof(): boolean {
    return this.#pos >= this.src.length;
  }

  #lineStart(pos: number): number {
    return this.src.lastIndexOf("\n", pos - 1) + 1;
  }

  #lineEnd(from = this.#pos): number {
    const end = this.src.indexOf("\n", from);
    return end < 0 ? this.src.length : end;
  }

  #col(): number {
    return this.#pos - this.#lineStart(this.#pos);
  }

  #line(): number {
    let n = 1;
    for (let i = this.src.indexOf("\n"); i >= 0 && i < this.#pos; i = this.src.indexOf("\n", i + 1)) n++;
    return n;
  }

  #fail(reason: string): never {
    throw new YamlError(this.#line(), reason);
  }
}

/** A key as text: plain keys are resolved first (`1: x` has the key "1", `null: x` "null"). */
function keyText(raw: string, quoted: boolean): string {
  return quoted ? raw : String(resolvePlain(raw));
}

/**
 * Folds lines: a break between two lines is a space, each blank line a newline (and
 * replaces the break before it); lines indented more (in `>` scalars) keep their breaks.
 */
function fold(lines: readonly string[]): string {
  let out = lines[0] ?? "";
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const prev = lines[i - 1];
    if (line === "") out += "\n";
    else if (prev === "") out += line;
    else if (prev.startsWith(" ") || line.startsWith(" ")) out += "\n" + line;
    else out += " " + line;
  }
  return out;
}

/** Multi-line quoted text: each line trimmed, breaks folded; escaped breaks join with nothing. */
function foldQuoted(raw: string): string {
  if (!raw.includes("\n")) return raw.replaceAll("\u0000\u0001", "");
  const lines = raw.split("\n").map((l, i, all) => {
    const s = i === 0 ? l : l.trimStart();
    return i < all.length - 1 ? s.trimEnd() : s;
  });
  return fold(lines).replaceAll("\u0000\u0001 ", "").replaceAll("\u0000\u0001", "");
}

/** A plain scalar's value in the core schema: null, booleans, numbers, else the text. */
function resolvePlain(s: string): unknown {
  if (s === "" || s === "~" || /^(null|Null|NULL)$/.test(s)) return null;
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^[-+]?[0-9]+$/.test(s)) return Number(s);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}
