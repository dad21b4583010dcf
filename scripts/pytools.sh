#!/usr/bin/env bash
# Makes sure the Python tools the tests run are there; make tools (and so
# make test, make invoke) and make lint call it. The tools and their pinned
# versions are in scripts/requirements-test.txt.
#
# A tool already on PATH is used as it is, whatever its version. Only for a
# missing one does this create a virtual environment in the checkout
# (./.venv, with --system-site-packages so that what is installed stays
# visible) and install the pinned version into it; the Makefile puts
# .venv/bin first on PATH. When the install fails (no package index
# reachable), it fails and names the one command to run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req=scripts/requirements-test.txt
venv=$root/.venv
export PATH=$venv/bin:$PATH # as the Makefile sets it

command -v python3 >/dev/null || {
	echo "pytools: python3 not found: install Python 3 with pip and venv, then run make test again" >&2
	exit 1
}

# missing prints the requirement name of each tool not found: an executable
# the tests run, or a module they import through python3.
missing() {
	command -v moto_server >/dev/null || echo moto
	command -v cfn-lint >/dev/null || echo cfn-lint
	python3 - <<'PY'
import importlib.util

for module, requirement in [
    ("cfnlint", "cfn-lint"),  # internal/e2e/deploytest/testdata/cfn2json.py
    ("samtranslator", "cfn-lint"),
    ("openapi_spec_validator", "openapi-spec-validator"),
    ("jsonschema", "jsonschema"),
    ("referencing", "jsonschema"),
    ("yaml", "PyYAML"),
]:
    if importlib.util.find_spec(module) is None:
        print(requirement)
PY
}

names=$(missing | sort -u)
[ -z "$names" ] && exit 0

specs=()
for name in $names; do
	spec=$(grep -iE "^${name}(\[[a-z,]+\])?==" "$root/$req") || {
		echo "pytools: $name is not pinned in $req" >&2
		exit 1
	}
	specs+=("$spec")
done
echo "pytools: not found: ${specs[*]}; installing into .venv" >&2
hint="Run
    .venv/bin/python3 -m pip install --ignore-installed -r $req
(with a package index or mirror reachable), then make test again."
# The environment borrows the system's pip when it has one (creating it
# takes a tenth of a second instead of seconds), else gets its own.
if [ ! -x "$venv/bin/python3" ]; then
	python3 -m venv --system-site-packages --without-pip "$venv" &&
		{ "$venv/bin/python3" -m pip --version >/dev/null 2>&1 || "$venv/bin/python3" -m ensurepip --default-pip >&2; } || {
		rm -rf "$venv"
		echo "pytools: could not create .venv with pip (Debian, Ubuntu: apt install python3-venv python3-pip)" >&2
		exit 1
	}
fi
pip=("$venv/bin/python3" -m pip install --disable-pip-version-check --retries 2 --timeout 30)
# The first install fetches what is missing. A package that is installed
# but whose command is not on PATH counts as installed, so it is then
# installed again into .venv by itself (its dependencies are there).
if ! "${pip[@]}" "${specs[@]}" >&2 ||
	{ [ -n "$(missing)" ] && ! "${pip[@]}" --no-deps --ignore-installed "${specs[@]}" >&2; }; then
	echo "pytools: could not install ${specs[*]} (no package index reachable?). $hint" >&2
	exit 1
fi
names=$(missing | sort -u)
if [ -n "$names" ]; then
	echo "pytools: still missing after the install:" $names". $hint" >&2
	exit 1
fi
