#!/bin/bash
# make bench: every benchmark, figures and ratios on stdout.
set -eu
cd "$(dirname "$0")"
./tunnel.sh
./http.sh
