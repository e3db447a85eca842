import { describe, expect, it } from "vitest";
import { formatConfig } from "./format";

describe("formatConfig", () => {
  it("puts well-known keys first, others in code-point order, ipam and plugins last, 2-space indented", () => {
    const value = JSON.parse('{"plugins":[{"ipam":{"ranges":[[{"gateway":"10.1.0.1","subnet":"10.1.0.0/24"}]],"type":"host-local"},"isGateway":true,"type":"bridge","bridge":"br0"}],"name":"n","cniVersion":"1.0.0"}');
    expect(formatConfig(value)).toBe(
      [
        "{",
        '  "cniVersion": "1.0.0",',
        '  "name": "n",',
        '  "plugins": [',
        "    {",
        '      "type": "bridge",',
        '      "bridge": "br0",',
        '      "isGateway": true,',
        '      "ipam": {',
        '        "type": "host-local",',
        '        "ranges": [',
        "          [",
        "            {",
        '              "subnet": "10.1.0.0/24",',
        '              "gateway": "10.1.0.1"',
        "            }",
        "          ]",
        "        ]",
        "      }",
        "    }",
        "  ]",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("keeps a __proto__ key as a key and empty containers as {} and []", () => {
    const value = JSON.parse('{"name":"x","__proto__":{"a":1},"args":{},"list":[]}');
    const text = formatConfig(value);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain('"args": {}');
    expect(text).toContain('"list": []');
  });
});
