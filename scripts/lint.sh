#!/usr/bin/env bash
# Lints the shell scripts (shellcheck) and the Dockerfile (dockerfile-utils, when installed).
#
#   scripts/lint.sh
#
# The shell scripts are scripts/*.sh, scripts/lib/*.sh (sourced) and tests/scripts/*.sh.
# ShellCheck must be installed: without it the lint fails, so that a machine without it cannot
# pass the check by skipping it (scripts/install-deps.sh lists it). The Dockerfile linter is the
# npm package dockerfile-utils; it is found as $DOCKERFILE_UTILS or dockerfile-utils on PATH
# (e.g. npm install -g dockerfile-utils), and when neither is there this says so and checks the
# rest.
# Any finding, warning or error, fails. Exit status: 0 clean, 1 findings or shellcheck missing,
# 2 bad usage.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) printf 'lint: error: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
esac
cd "$root"

failed=0
if ! command -v shellcheck >/dev/null; then
  echo "lint: error: shellcheck is not installed (apt-get install shellcheck; scripts/install-deps.sh lists it)" >&2
  exit 1
fi
shopt -s nullglob
scripts=(scripts/*.sh scripts/lib/*.sh tests/scripts/*.sh)
if shellcheck -x "${scripts[@]}"; then
  echo "lint: shellcheck: ${#scripts[@]} scripts clean"
else
  echo "lint: shellcheck found problems (above)" >&2
  failed=1
fi

linter="${DOCKERFILE_UTILS:-$(command -v dockerfile-utils || true)}"
if [[ ! -f Dockerfile ]]; then
  echo "lint: no Dockerfile"
elif [[ -z "$linter" ]]; then
  echo "lint: dockerfile-utils not installed: Dockerfile not linted (npm install -g dockerfile-utils, or DOCKERFILE_UTILS=PATH)"
elif [[ ! -x "$linter" ]]; then
  echo "lint: error: DOCKERFILE_UTILS=$linter is not an executable" >&2
  exit 2
else
  # It exits 0 on warnings; any line it prints is a finding.
  if out="$("$linter" lint Dockerfile 2>&1)" && [[ -z "$out" ]]; then
    echo "lint: dockerfile-utils: Dockerfile clean"
  else
    printf '%s\n' "$out" >&2
    echo "lint: dockerfile-utils found problems in Dockerfile (above)" >&2
    failed=1
  fi
fi
exit "$failed"
