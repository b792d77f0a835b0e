#!/usr/bin/env python3
"""Each recorded answer's body against the schema the OpenAPI document gives
for its operation and status (JSON Schema 2020-12, as OpenAPI 3.1 says).

    scripts/check_contract.py openapi.json answers.json

answers.json is what crates/server/tests/contract.rs wrote: a list of
{method, path, url, status, location, body}. Exits 1 on any mismatch.
"""
import json
import sys

from jsonschema import Draft202012Validator


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def main(doc_path, answers_path):
    doc = json.load(open(doc_path))
    answers = json.load(open(answers_path))
    problems = []
    checked = 0
    for a in answers:
        where = f"{a['method'].upper()} {a['url']} -> {a['status']}"
        op = doc["paths"][a["path"]][a["method"]]
        response = op["responses"].get(str(a["status"]))
        if response is None:
            problems.append(f"{where}: status not documented")
            continue
        response = resolve(doc, response)
        for name, header in response.get("headers", {}).items():
            if header.get("required") and name.lower() == "location" and not a["location"]:
                problems.append(f"{where}: no {name} header")
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        root = dict(schema)
        root["components"] = doc.get("components", {})
        errors = sorted(
            Draft202012Validator(root).iter_errors(a["body"]), key=lambda e: list(e.path)
        )
        checked += 1
        for e in errors[:5]:
            at = "/".join(str(p) for p in e.absolute_path)
            problems.append(f"{where}: at /{at}: {e.message[:300]}")
    for p in problems:
        print(p)
    print(f"{len(answers)} answers, {checked} bodies checked against their schemas, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
