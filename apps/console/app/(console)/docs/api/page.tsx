import { openApiDocument, REST_ENDPOINT } from "@switchyard/api/rest";

export const metadata = { title: "REST API · Switchyard" };

type Schema = { type?: string | string[]; enum?: unknown[]; const?: unknown; anyOf?: Schema[]; oneOf?: Schema[]; items?: Schema; properties?: Record<string, Schema>; required?: string[]; default?: unknown; minimum?: number; maximum?: number; minLength?: number; maxLength?: number; pattern?: string };
type Operation = { operationId: string; tags: string[]; requestBody?: { content: { "application/json": { schema: Schema } } } };

/** A JSON Schema type in a few words: `string ≤ 64`, `"a" | "b"`, `array of object`. */
function typeOf(s: Schema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  const union = s.anyOf ?? s.oneOf;
  if (union) return union.map(typeOf).join(" | ");
  if (s.type === "array") return `array of ${s.items ? typeOf(s.items) : "any"}`;
  const base = Array.isArray(s.type) ? s.type.join(" | ") : (s.type ?? "any");
  const bounds = [s.minLength !== undefined && `≥ ${s.minLength} chars`, s.maxLength !== undefined && `≤ ${s.maxLength} chars`, s.minimum !== undefined && `≥ ${s.minimum}`, s.maximum !== undefined && `≤ ${s.maximum}`].filter(Boolean);
  return bounds.length ? `${base} (${bounds.join(", ")})` : base;
}

/**
 * The REST API's reference, rendered from the same OpenAPI document the console serves at
 * /api/v1/openapi.json (itself generated from the procedures' zod schemas): one entry per
 * procedure, its input fields, and the raw schema for the rest.
 */
export default function ApiDocsPage() {
  const doc = openApiDocument() as { paths: Record<string, { get?: Operation; post: Operation }> };
  const byTag = new Map<string, { path: string; methods: string[]; op: Operation }[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    const tag = item.post.tags[0] ?? "other";
    byTag.set(tag, [...(byTag.get(tag) ?? []), { path, methods: item.get ? ["GET", "POST"] : ["POST"], op: item.post }]);
  }
  return (
    <>
      <h1>REST API</h1>
      <section className="panel">
        <p style={{ marginTop: 0 }}>
          Every procedure of the console, as plain JSON for automation in any language. Send an API token (Account → API tokens) as{" "}
          <code>Authorization: Bearer syt_…</code>; the body is the procedure&apos;s input. Reads also answer <code>GET</code> with the input as{" "}
          <code>?input=&lt;JSON&gt;</code>. Errors are <code>{`{"error":{"code","message","issues","requestId"}}`}</code> with the HTTP status (400 invalid input, 401, 403, 404, 409, 429 with <code>Retry-After</code>).
        </p>
        <pre className="mono">{`curl -sf -X POST -H "Authorization: Bearer $SWITCHYARD_TOKEN" -H 'content-type: application/json' \\
  -d '{"limit":20}' "$SWITCHYARD_URL${REST_ENDPOINT}/networks.list"`}</pre>
        <p className="muted" style={{ marginBottom: 0 }}>
          The OpenAPI 3.1 document: <a href={`${REST_ENDPOINT}/openapi.json`}>{REST_ENDPOINT}/openapi.json</a> (for client generators).
        </p>
      </section>
      {[...byTag].map(([tag, ops]) => (
        <section key={tag} className="panel" aria-labelledby={`api-${tag}`}>
          <h2 id={`api-${tag}`} style={{ marginTop: 0 }}>{tag}</h2>
          {ops.map(({ path, methods, op }) => {
            const schema = op.requestBody?.content["application/json"].schema;
            const fields = Object.entries(schema?.properties ?? {});
            return (
              <details key={path} data-testid={`api-op-${op.operationId}`}>
                <summary>
                  {methods.map((m) => <span key={m} className="badge" style={{ marginRight: 4 }}>{m}</span>)} <code>{path}</code>
                </summary>
                {fields.length === 0 ? (
                  <p className="muted">{schema ? "Input: see the schema below." : "No input."}</p>
                ) : (
                  <table aria-label={`Input of ${op.operationId}`}>
                    <thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Default</th></tr></thead>
                    <tbody>
                      {fields.map(([name, field]) => (
                        <tr key={name}>
                          <td className="mono">{name}</td>
                          <td className="mono">{typeOf(field)}</td>
                          <td>{schema?.required?.includes(name) ? "yes" : ""}</td>
                          <td className="mono">{field.default === undefined ? "" : JSON.stringify(field.default)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
                {schema && (
                  <details>
                    <summary className="muted">JSON Schema</summary>
                    <pre className="mono" style={{ maxHeight: 320, overflow: "auto" }}>{JSON.stringify(schema, null, 2)}</pre>
                  </details>
                )}
              </details>
            );
          })}
        </section>
      ))}
    </>
  );
}
