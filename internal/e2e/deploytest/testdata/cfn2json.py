"""Prints template.yaml as JSON for the Go tests: {"template": <as written>,
"transformed": <after the AWS SAM transform>}.

The YAML is read with cfn-lint's own decoder (it understands the short
CloudFormation tags such as !Ref and !GetAtt) and transformed with the SAM
translator that cfn-lint uses, so the tests see the template as CloudFormation
will. Usage: python3 cfn2json.py template.yaml
"""

import copy
import json
import os
import sys


def main(path):
    try:
        from cfnlint.decode import decode
        from samtranslator.translator.transform import transform
    except ImportError as e:
        sys.exit(f"cfn2json: {e}: install cfn-lint with  pip install -r scripts/requirements-test.txt")

    template, matches = decode(path)
    if matches or template is None:
        sys.exit("cfn2json: cannot parse %s: %s" % (path, "; ".join(str(m) for m in matches)))
    raw = json.loads(json.dumps(template))

    fragment = copy.deepcopy(raw)
    for resource in fragment.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # The translator wants an uploaded artifact, as after `sam package`.
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/code.zip"

    class NoManagedPolicies:
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        transformed = transform(fragment, {}, NoManagedPolicies(), passthrough_metadata=True)
    except Exception as e:  # the translator reports invalid documents this way
        causes = getattr(e, "causes", None) or [e]
        sys.exit("cfn2json: SAM transform failed: " + "; ".join(getattr(c, "message", str(c)) for c in causes))
    json.dump({"template": raw, "transformed": transformed}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: cfn2json.py template.yaml")
    main(sys.argv[1])
