/**
 * How the console reads values: format detection (JSON, YAML, text, binary, Kubernetes
 * protobuf), validation with line numbers, the YAML reader, hex dumps and the line diff.
 */
import { describe, expect, test } from "bun:test";
import { utf8 } from "../../server/ui/app/bytes.ts";
import { diffLines } from "../../server/ui/app/diff.ts";
import { hexDump, inspectValue, textToStore, validate } from "../../server/ui/app/values.ts";
import { parseYaml, YamlError } from "../../server/ui/app/yaml.ts";

describe("inspectValue", () => {
  test("JSON is pretty-printed, and compact JSON is saved compact again", () => {
    const v = inspectValue('{"a":1,"b":[true,null]}');
    expect(v.format).toBe("json");
    expect(v.pretty).toBe('{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}');
    expect(textToStore(v, '{\n  "a": 2\n}')).toBe('{"a":2}');
    const multi = inspectValue('{\n "a": 1\n}\n');
    expect(textToStore(multi, '{\n  "a": 2\n}')).toBe('{\n  "a": 2\n}');
  });

  test("YAML, text, binary and Kubernetes protobuf", () => {
    expect(inspectValue("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n").format).toBe("yaml");
    expect(inspectValue("- a\n- b\n").format).toBe("yaml");
    expect(inspectValue("production").format).toBe("text");
    expect(inspectValue("see: http://x").format).toBe("yaml");
    expect(inspectValue("not json {").format).toBe("text");
    expect(inspectValue(utf8("héllo wörld")).text).toBe("héllo wörld");
    expect(inspectValue("\x00\x01\x02\xff").format).toBe("binary");
    expect(inspectValue("\xc3\x28").format).toBe("binary"); // invalid UTF-8
    // k8s\0 + runtime.Unknown{typeMeta: {apiVersion: "v1", kind: "Pod"}, raw: ...}
    const typeMeta = "\x0a\x02v1\x12\x03Pod";
    const unknown = "\x0a" + String.fromCharCode(typeMeta.length) + typeMeta + "\x12\x02\x08\x01";
    const k = inspectValue("k8s\0" + unknown);
    expect(k.format).toBe("k8s");
    expect(k.k8s).toEqual({ apiVersion: "v1", kind: "Pod" });
    expect(inspectValue("k8s\0\xff\xff").k8s).toBeUndefined();
  });

  test("validation says the line", () => {
    expect(validate("json", '{"a": 1}')).toEqual({ ok: true });
    const bad = validate("json", '{\n  "a": 1,\n}');
    expect(bad.ok).toBe(false);
    expect(validate("yaml", "a: 1\nb: [1, 2\n").ok).toBe(false);
    expect(validate("yaml", "a: 1\n  b: 2\n")).toEqual({
      ok: false,
      message: "YAML: line 2: mapping values are not allowed here",
    });
    expect(validate("text", "{")).toEqual({ ok: true });
  });

  test("hex dump", () => {
    expect(hexDump("\x00\x01ABC")).toBe(
      "00000000  00 01 41 42 43                                    |..ABC|",
    );
    expect(hexDump("x".repeat(40), 16).split("\n")).toHaveLength(2);
  });
});

describe("parseYaml", () => {
  const one = (s: string) => parseYaml(s)[0];

  test("block mappings and sequences", () => {
    expect(one("a: 1\nb:\n  c: true\n  d: [x, 'y z', \"q\\n\"]\ne:\n- 1\n- k: v\n  l: ~\n")).toEqual({
      a: 1,
      b: { c: true, d: ["x", "y z", "q\n"] },
      e: [1, { k: "v", l: null }],
    });
    expect(one("- - a\n  - b\n- c # comment\n")).toEqual([["a", "b"], "c"]);
    expect(one("url: http://example.com:80/x\nempty:\nnum: 1.5e3\nhex: 0x1f\nstr: '1'\n")).toEqual({
      url: "http://example.com:80/x",
      empty: null,
      num: 1500,
      hex: 31,
      str: "1",
    });
  });

  test("a Kubernetes manifest", () => {
    const doc = one(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: "front end"}
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25
          args: ["--port", "8080"]
          env:
            - name: A
              value: "1"
`) as any;
    expect(doc.spec.template.spec.containers[0]).toEqual({
      name: "web",
      image: "nginx:1.25",
      args: ["--port", "8080"],
      env: [{ name: "A", value: "1" }],
    });
    expect(doc.metadata.labels).toEqual({ app: "web", tier: "front end" });
  });

  test("block scalars, folding and multi-line plain scalars", () => {
    expect(one("a: |\n  line 1\n  line 2\nb: >-\n  folded\n  text\n\n  para\nc: x\n")).toEqual({
      a: "line 1\nline 2\n",
      b: "folded text\npara",
      c: "x",
    });
    expect(one("a: |+\n  keep\n\nb: 1\n")).toEqual({ a: "keep\n\n", b: 1 });
    expect(one("a: plain\n  continued\n  here\nb: 'q\n  r'\n")).toEqual({
      a: "plain continued here",
      b: "q r",
    });
  });

  test("documents, anchors, aliases and tags", () => {
    expect(parseYaml("---\na: 1\n---\nb: 2\n...\n")).toEqual([{ a: 1 }, { b: 2 }]);
    expect(one("base: &b {x: 1}\nuse: *b\ntagged: !!str 12\n")).toEqual({
      base: { x: 1 },
      use: { x: 1 },
      tagged: 12,
    });
    expect(parseYaml("")).toEqual([null]);
    expect(parseYaml("# only a comment\n")).toEqual([null]);
  });

  test("errors with line numbers", () => {
    const err = (s: string) => {
      try {
        parseYaml(s);
      } catch (e) {
        if (e instanceof YamlError) return `${e.line}: ${e.reason}`;
        throw e;
      }
      return "no error";
    };
    expect(err("a: 1\na: 2\n")).toBe('2: duplicate key "a"');
    expect(err("a: b: c\n")).toBe("1: mapping values are not allowed here");
    expect(err("a:\n\tb: 1\n")).toBe("2: tabs are not allowed for indentation");
    expect(err("a: 'open\nb: 1\n")).toBe("1: unterminated quoted scalar");
    expect(err("a: [1, 2\n")).toBe("1: unterminated flow collection");
    expect(err("a: 1\n   b: 2\n")).toBe("2: mapping values are not allowed here");
    expect(err("a:\n  b: 1\n c: 2\n")).toBe("3: bad indentation of a mapping entry");
    expect(err("- a\nb: 1\n")).toBe("2: unexpected content after the document");
    expect(err("x: *nope\n")).toBe("1: unknown alias *nope");
  });
});

describe("diffLines", () => {
  const show = (a: string, b: string) => diffLines(a, b).map((l) => l.op + l.text).join("|");
  test("kept, removed and added lines", () => {
    expect(show("a\nb\nc", "a\nb\nc")).toBe("=a|=b|=c");
    expect(show("a\nb\nc", "a\nx\nc")).toBe("=a|-b|+x|=c");
    expect(show("a\nb\nc\nd", "b\nc\nd\ne")).toBe("-a|=b|=c|=d|+e");
    expect(show("", "x")).toBe("-|+x");
    expect(show("1\n2\n3\n4\n5\n6", "1\n3\n4\nX\n5\n6\n7")).toBe("=1|-2|=3|=4|+X|=5|=6|+7");
  });
  test("gives up on alignment past maxEdits", () => {
    const a = Array.from({ length: 50 }, (_, i) => `a${i}`).join("\n");
    const b = Array.from({ length: 50 }, (_, i) => `b${i}`).join("\n");
    const d = diffLines(a, b, 10);
    expect(d.filter((l) => l.op === "-")).toHaveLength(50);
    expect(d.filter((l) => l.op === "+")).toHaveLength(50);
  });
  test("a random edit script replays to the new text", () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let t = 0; t < 200; t++) {
      const a = Array.from({ length: Math.floor(rnd() * 20) }, () => String(Math.floor(rnd() * 5)));
      const b = Array.from({ length: Math.floor(rnd() * 20) }, () => String(Math.floor(rnd() * 5)));
      const d = diffLines(a.join("\n"), b.join("\n"));
      expect(d.filter((l) => l.op !== "+").map((l) => l.text).join("\n")).toBe(a.join("\n"));
      expect(d.filter((l) => l.op !== "-").map((l) => l.text).join("\n")).toBe(b.join("\n"));
    }
  });
});
