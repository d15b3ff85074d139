#!/bin/bash
# Conformance: Microsoft's hyco-ws and hyco-https clients against our relay.
exec "$(dirname "$0")/../pytest.sh" conformance "$@"
