"""Checks docs/openapi.yaml and real handler traffic against it.

Run by the Go package next to it (internal/testing/openapicheck), which the
contract tests use; it can be run by hand from the repository's root:

    python3 internal/testing/openapicheck/openapi_check.py spec docs/openapi.yaml
    python3 internal/testing/openapicheck/openapi_check.py contract docs/openapi.yaml < cases.json

"spec" validates the document against the OpenAPI 3.1 specification.

"contract" reads a JSON object from stdin:

    {"path": "/messaging/sms", "method": "post",
     "errorCodes": "#/components/schemas/ErrorCode",
     "responses": [{"name": str, "status": int, "headers": {str: str} | null,
                    "body": str, "expectValid": bool, "ref": str}],
     "requests": [{"name": str, "body": str, "expectValid": bool,
                   "mediaType": str, "query": str, "headers": {str: str}}]}

and writes one JSON object to stdout:

    {"documentedStatuses": [int], "errorCodes": [str], "methods": [str],
     "requiredHeaders": {status: [str]},
     "responses": [{"name": str, "problems": [str]}],
     "requests": [{"name": str, "problems": [str]}],
     "examples": [{"name": str, "problems": [str]}]}

"errorCodes" in the input names the schema whose enum the output's
"errorCodes" lists (ErrorCode when absent). "methods" are the operations the
document gives the path, upper-case.

A response is checked against the operation's response of its status, or,
with "ref", against that response object of the document (an answer the
document describes outside the operation, such as a 405 for a method the
path does not have). A response whose "headers" is null has its body checked
but not its headers (synthetic bodies).

A request's body is read as "mediaType" says (application/json when absent
or empty; application/x-www-form-urlencoded is read as an object of
strings); an operation without a request body wants an empty one. With
"query" (the raw query string; null: not checked) its query parameters are
checked against the operation's and its path's, and with "headers" (null:
not checked) its header parameters: required ones must be there, and each
value must match its schema. A query parameter whose schema is an object (style form, exploded)
takes every query parameter no other one names.

Exit status 3 means a module is missing.
"""

import json
import sys
import urllib.parse

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
    return resolve_at(doc, node, "")[0]


def resolve_at(doc, node, ptr):
    """Follows local $refs from node, which lives at the JSON pointer ptr;
    returns the target and where it lives."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported: {ref}")
        node, ptr = doc, ref[1:]
        for tok in ref[2:].split("/"):
            node = node[tok.replace("~1", "/").replace("~0", "~")]
        seen += 1
    return node, ptr


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


def header_problems(checker, resp_ptr, status, resp, headers):
    problems = []
    present = {k.lower(): (k, v) for k, v in headers.items()}
    documented = {}
    for name, h in (resp.get("headers") or {}).items():
        documented[name.lower()] = name
        h, ptr = resolve_at(checker.doc, h, resp_ptr + pointer("headers", name))
        if name.lower() not in present:
            if h.get("required"):
                problems.append(f"required header {name} is missing")
            continue
        value = present[name.lower()][1]
        for p in value_problems(checker, ptr + "/schema", h.get("schema", {}), value):
            problems.append(f"header {name}: {p}")
    for low, (name, _) in present.items():
        if low == "content-type":
            continue  # described by the response's content map
        if low not in documented:
            problems.append(f"header {name} is not documented for status {status}")
    return problems


def value_problems(checker, ptr, schema, value):
    """Checks a header's or a query parameter's text against its schema."""
    instance = value
    if resolve(checker.doc, schema).get("type") == "integer":
        try:
            instance = int(value, 10)
        except ValueError:
            return [f"{value!r} is not an integer"]
    return checker.schema_problems(ptr, instance)


def check_response(checker, op, op_ptr, r):
    status = str(r["status"])
    if r.get("ref"):
        ref = r["ref"]
        if not ref.startswith("#/components/responses/"):
            return [f"ref {ref} is not a response of the document's components"]
        try:
            resp, resp_ptr = resolve_at(checker.doc, {"$ref": ref}, "")
        except KeyError:
            return [f"the document has no response {ref}"]
    else:
        responses = op.get("responses", {})
        if status not in responses:
            return [f"status {status} is not documented"]
        resp, resp_ptr = resolve_at(checker.doc, responses[status], pointer(*op_ptr, "responses", status))
    problems = []
    media = "application/json"
    if r.get("headers") is not None:
        ct = {k.lower(): v for k, v in r["headers"].items()}.get("content-type", "")
        media = ct.split(";")[0].strip().lower()
        problems += header_problems(checker, resp_ptr, status, resp, r["headers"])
    content = resp.get("content") or {}
    if media not in content:
        return problems + [f"media type {media!r} is not documented for status {status}"]
    try:
        body = json.loads(r["body"])
    except ValueError as exc:
        return problems + [f"body is not JSON: {exc}"]
    found = checker.schema_problems(resp_ptr + pointer("content", media, "schema"), body)
    if r.get("expectValid", True):
        problems += found
    elif not found:
        problems.append(f"body {r['body']} validates against the status {status} schema, want it refused")
    return problems


def parameters(checker, path_ptr, op_ptr, place):
    """The documented parameters in place ("query", "header") of the path
    and the operation, each with where it lives; the operation's win."""
    out = {}
    for owner_ptr in (path_ptr, op_ptr):
        owner = checker.doc
        for tok in owner_ptr:
            owner = owner[tok]
        for i, p in enumerate(owner.get("parameters") or []):
            p, ptr = resolve_at(checker.doc, p, pointer(*owner_ptr, "parameters", i))
            if p.get("in") == place:
                out[p["name"].lower() if place == "header" else p["name"]] = (p, ptr)
    return out


def request_body_problems(checker, op, op_ptr, r):
    if op.get("requestBody") is None:
        return [] if not r["body"] else ["the operation documents no request body"]
    media = r.get("mediaType") or "application/json"
    rb, rb_ptr = resolve_at(checker.doc, op.get("requestBody") or {}, pointer(*op_ptr, "requestBody"))
    if media not in (rb.get("content") or {}):
        return [f"no {media} request body is documented"]
    if media == "application/x-www-form-urlencoded":
        try:
            body = dict(urllib.parse.parse_qsl(r["body"], keep_blank_values=True, errors="strict"))
        except (ValueError, UnicodeDecodeError):
            return ["not a form"]
    else:
        try:
            body = json.loads(r["body"])
        except ValueError:
            return ["not JSON"]
    return checker.schema_problems(rb_ptr + pointer("content", media, "schema"), body)


def query_problems(checker, path_ptr, op_ptr, raw):
    try:
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return ["the query string is malformed"]
    query = {}
    for k, v in pairs:
        query.setdefault(k, v)
    documented = parameters(checker, path_ptr, op_ptr, "query")
    problems = []
    for name, (p, ptr) in documented.items():
        schema = resolve(checker.doc, p.get("schema", {}))
        style, explode = p.get("style", "form"), p.get("explode", p.get("style", "form") == "form")
        if schema.get("type") == "object" and style == "form" and explode:
            rest = {k: v for k, v in query.items() if k not in documented}
            problems += [f"query {name}: {e}" for e in checker.schema_problems(ptr + "/schema", rest)]
            continue
        if name not in query:
            if p.get("required"):
                problems.append(f"required query parameter {name} is missing")
            continue
        problems += [f"query {name}: {e}" for e in value_problems(checker, ptr + "/schema", p.get("schema", {}), query[name])]
    return problems


def request_header_problems(checker, path_ptr, op_ptr, headers):
    present = {k.lower(): v for k, v in headers.items()}
    problems = []
    for low, (p, ptr) in parameters(checker, path_ptr, op_ptr, "header").items():
        if low not in present:
            if p.get("required"):
                problems.append(f"required header {p['name']} is missing")
            continue
        problems += [f"header {p['name']}: {e}" for e in value_problems(checker, ptr + "/schema", p.get("schema", {}), present[low])]
    return problems


def check_request(checker, op, op_ptr, r):
    found = request_body_problems(checker, op, op_ptr, r)
    path_ptr = op_ptr[:-1]
    if r.get("query") is not None:
        found += query_problems(checker, path_ptr, op_ptr, r["query"])
    if r.get("headers") is not None:
        found += request_header_problems(checker, path_ptr, op_ptr, r["headers"])
    if r["expectValid"]:
        return found
    if not found:
        return [f"request {r['body']} validates against the documented request, but the handler refused it"]
    return []


def check_examples(checker, places):
    """Checks each example of the content of places, (name, object, pointer)
    triples of request bodies and responses, against its schema."""
    out = []
    for where, obj, ptr in places:
        for media, mt in (obj.get("content") or {}).items():
            examples = mt.get("examples") or {}
            if not examples:
                out.append({"name": where + " " + media, "problems": ["no examples"]})
            for name, ex in examples.items():
                ex = resolve(checker.doc, ex)
                out.append({
                    "name": where + " " + media + " example " + name,
                    "problems": checker.schema_problems(ptr + pointer("content", media, "schema"), ex.get("value")),
                })
    return out


def example_places(checker, op, op_ptr, refs):
    """The request body and responses of op, and the responses refs names."""
    places = []
    rb = op.get("requestBody")
    if rb is not None:
        rb, ptr = resolve_at(checker.doc, rb, pointer(*op_ptr, "requestBody"))
        places.append(("requestBody", rb, ptr))
    for status, resp in op.get("responses", {}).items():
        resp, ptr = resolve_at(checker.doc, resp, pointer(*op_ptr, "responses", status))
        places.append(("responses/" + status, resp, ptr))
    for ref in sorted(refs):
        try:
            resp, ptr = resolve_at(checker.doc, {"$ref": ref}, "")
        except KeyError:
            continue  # reported with the response
        places.append((ref, resp, ptr))
    return places


def required_headers(doc, op):
    """Maps each documented status to the headers it documents as required."""
    out = {}
    for status, resp in op.get("responses", {}).items():
        resp = resolve(doc, resp)
        out[status] = sorted(n for n, h in (resp.get("headers") or {}).items() if resolve(doc, h).get("required"))
    return out


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def contract(path):
    doc = load(path)
    cases = json.load(sys.stdin)
    checker = Checker(doc)
    op_ptr = ("paths", cases["path"], cases["method"])
    op = doc["paths"][cases["path"]][cases["method"]]
    codes = resolve(doc, {"$ref": cases.get("errorCodes") or "#/components/schemas/ErrorCode"}).get("enum", [])
    refs = {r["ref"] for r in cases["responses"] if r.get("ref")}
    result = {
        "documentedStatuses": sorted(int(s) for s in op.get("responses", {}) if s.isdigit()),
        "errorCodes": codes,
        "methods": sorted(m.upper() for m in doc["paths"][cases["path"]] if m in HTTP_METHODS),
        "requiredHeaders": required_headers(doc, op),
        "responses": [{"name": r["name"], "problems": check_response(checker, op, op_ptr, r)} for r in cases["responses"]],
        "requests": [{"name": r["name"], "problems": check_request(checker, op, op_ptr, r)} for r in cases["requests"]],
        "examples": check_examples(checker, example_places(checker, op, op_ptr, refs)),
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
