#!/bin/bash
# Integration tests: real processes on loopback.
exec "$(dirname "$0")/../pytest.sh" integration "$@"
