#!/usr/bin/env bash
# Build the Triton image for $model_name. Usage: ./build.sh [image:tag]
set -euo pipefail
cd "$$(dirname "$$0")"
IMAGE="$${1:-$image}"
docker build -t "$$IMAGE" .
echo "built $$IMAGE — run it with: docker run --rm -p 8000:8000 -p 8001:8001 -p 8002:8002 $$IMAGE"
