"""Checks docs/openapi.yaml and real handler traffic against it.

Used by openapi_test.go; not meant to be run by hand, though it can be:

    python3 openapi_check.py spec ../../docs/openapi.yaml
    python3 openapi_check.py contract ../../docs/openapi.yaml < cases.json

"spec" validates the document against the OpenAPI 3.1 specification.

"contract" reads a JSON object from stdin:

    {"path": "/messaging/sms", "method": "post",
     "responses": [{"name": str, "status": int, "headers": {str: str} | null,
                    "body": str, "expectValid": bool}],
     "requests": [{"name": str, "body": str, "expectValid": bool}]}

and writes one JSON object to stdout:

    {"documentedStatuses": [int], "errorCodes": [str],
     "requiredHeaders": {status: [str]},
     "responses": [{"name": str, "problems": [str]}],
     "requests": [{"name": str, "problems": [str]}],
     "examples": [{"name": str, "problems": [str]}]}

A response whose "headers" is null has its body checked but not its headers
(synthetic bodies). Exit status 3 means a module is missing.
"""

import json
import sys

PIP_HINT = "pip install openapi-spec-validator jsonschema PyYAML"

try:
    import jsonschema
    import yaml
    from openapi_spec_validator import validate as validate_spec
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write(f"missing Python module ({exc}); install with: {PIP_HINT}\n")
    sys.exit(3)

BASE = "urn:fluxkit:openapi"


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def escape(token):
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(*tokens):
    return "/" + "/".join(escape(t) for t in tokens)


def resolve(doc, node):
    """Follows a local $ref (OpenAPI reference object) to its target."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported: {ref}")
        node = doc
        for tok in ref[2:].split("/"):
            node = node[tok.replace("~1", "/").replace("~0", "~")]
        seen += 1
    return node


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.registry = Registry().with_resource(BASE, DRAFT202012.create_resource(doc))

    def validator(self, ptr):
        return jsonschema.Draft202012Validator(
            {"$ref": BASE + "#" + ptr},
            registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )

    def schema_problems(self, ptr, instance):
        errs = sorted(self.validator(ptr).iter_errors(instance), key=lambda e: list(e.path))
        out = []
        for e in errs:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            detail = e.message
            if e.context:  # oneOf/anyOf: say why each branch failed
                detail += " [" + "; ".join(sorted({c.message for c in e.context})) + "]"
            out.append(f"{where}: {detail}")
        return out


def header_problems(checker, op_ptr, status, resp, headers):
    problems = []
    present = {k.lower(): (k, v) for k, v in headers.items()}
    documented = {}
    for name, h in (resp.get("headers") or {}).items():
        documented[name.lower()] = name
        # Where the header object lives, for schema references.
        ptr = pointer(*op_ptr, "responses", str(status), "headers", name)
        if "$ref" in h:
            ptr = h["$ref"][1:]
        h = resolve(checker.doc, h)
        if name.lower() not in present:
            if h.get("required"):
                problems.append(f"required header {name} is missing")
            continue
        value = present[name.lower()][1]
        instance = value
        if resolve(checker.doc, h.get("schema", {})).get("type") == "integer":
            try:
                instance = int(value, 10)
            except ValueError:
                problems.append(f"header {name}: {value!r} is not an integer")
                continue
        for p in checker.schema_problems(ptr + "/schema", instance):
            problems.append(f"header {name}: {p}")
    for low, (name, _) in present.items():
        if low == "content-type":
            continue  # described by the response's content map
        if low not in documented:
            problems.append(f"header {name} is not documented for status {status}")
    return problems


def check_response(checker, op, op_ptr, r):
    status = str(r["status"])
    responses = op.get("responses", {})
    if status not in responses:
        return [f"status {status} is not documented"]
    resp = resolve(checker.doc, responses[status])
    problems = []
    media = "application/json"
    if r.get("headers") is not None:
        ct = {k.lower(): v for k, v in r["headers"].items()}.get("content-type", "")
        media = ct.split(";")[0].strip().lower()
        problems += header_problems(checker, op_ptr, status, resp, r["headers"])
    content = resp.get("content") or {}
    if media not in content:
        return problems + [f"media type {media!r} is not documented for status {status}"]
    try:
        body = json.loads(r["body"])
    except ValueError as exc:
        return problems + [f"body is not JSON: {exc}"]
    ptr = pointer(*op_ptr, "responses", status, "content", media, "schema")
    found = checker.schema_problems(ptr, body)
    if r.get("expectValid", True):
        problems += found
    elif not found:
        problems.append(f"body {r['body']} validates against the status {status} schema, want it refused")
    return problems


def check_request(checker, op, op_ptr, r):
    rb = resolve(checker.doc, op.get("requestBody") or {})
    if "application/json" not in (rb.get("content") or {}):
        return ["no application/json request body is documented"]
    try:
        body = json.loads(r["body"])
    except ValueError:
        body = None
        found = ["not JSON"]
    else:
        found = checker.schema_problems(pointer(*op_ptr, "requestBody", "content", "application/json", "schema"), body)
    if r["expectValid"]:
        return found
    if not found:
        return [f"request {r['body']} validates against the request schema, but the handler refused it"]
    return []


def check_examples(checker, op, op_ptr):
    out = []
    places = []
    rb = op.get("requestBody")
    if rb is not None:
        places.append((("requestBody",), resolve(checker.doc, rb)))
    for status, resp in op.get("responses", {}).items():
        places.append((("responses", status), resolve(checker.doc, resp)))
    for where, obj in places:
        for media, mt in (obj.get("content") or {}).items():
            examples = mt.get("examples") or {}
            if not examples:
                out.append({"name": "/".join(where) + " " + media, "problems": ["no examples"]})
            for name, ex in examples.items():
                ex = resolve(checker.doc, ex)
                ptr = pointer(*op_ptr, *where, "content", media, "schema")
                out.append({
                    "name": "/".join(where) + " " + media + " example " + name,
                    "problems": checker.schema_problems(ptr, ex.get("value")),
                })
    return out


def required_headers(doc, op):
    """Maps each documented status to the headers it documents as required."""
    out = {}
    for status, resp in op.get("responses", {}).items():
        resp = resolve(doc, resp)
        out[status] = sorted(n for n, h in (resp.get("headers") or {}).items() if resolve(doc, h).get("required"))
    return out


def contract(path):
    doc = load(path)
    cases = json.load(sys.stdin)
    checker = Checker(doc)
    op_ptr = ("paths", cases["path"], cases["method"])
    op = doc["paths"][cases["path"]][cases["method"]]
    codes = resolve(doc, {"$ref": "#/components/schemas/ErrorCode"}).get("enum", [])
    result = {
        "documentedStatuses": sorted(int(s) for s in op.get("responses", {}) if s.isdigit()),
        "errorCodes": codes,
        "requiredHeaders": required_headers(doc, op),
        "responses": [{"name": r["name"], "problems": check_response(checker, op, op_ptr, r)} for r in cases["responses"]],
        "requests": [{"name": r["name"], "problems": check_request(checker, op, op_ptr, r)} for r in cases["requests"]],
        "examples": check_examples(checker, op, op_ptr),
    }
    json.dump(result, sys.stdout)


def spec(path):
    validate_spec(load(path))
    print("ok")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("spec", "contract"):
        sys.stderr.write(__doc__)
        return 2
    {"spec": spec, "contract": contract}[argv[1]](argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
