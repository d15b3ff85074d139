#!/bin/bash
# `make run`: the local demo (relay + a bridge pair on loopback).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
cat <<MSG
make run: the demo needs two parts this build does not have yet:
  - azbridge-relayd serving the Hybrid Connections protocol (the local relay), and
  - the azbridged data plane (-L/-T forwarding through it).
What this build does today is check and print a configuration:
  $BUILD/azbridged -n -v -c etc/azbridge.conf
MSG
exit 1
