#!/bin/sh
# Regenerates the committed Go code of proto/vswitch/v1 from vswitch.proto.
# Needs protoc (Debian protobuf-compiler 3.21, which ships the well-known
# types under /usr/include), protoc-gen-go v1.36.12 and protoc-gen-go-grpc
# 1.6.2 (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#  google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2).
set -eu
cd "$(dirname "$0")/.."
PATH="$(go env GOPATH)/bin:$PATH"
protoc -I proto -I /usr/include \
	--go_out=. --go_opt=module=vswitch \
	--go-grpc_out=. --go-grpc_opt=module=vswitch \
	proto/vswitch/v1/vswitch.proto
