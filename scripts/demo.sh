#!/usr/bin/env bash
# The demo: installs what is missing, builds, then trains a small YOLO model through the whole
# stack (packages/stack/src/demo.ts). DEMO_EPOCHS / DEMO_IMAGE_SIZE size the training.
exec bash "$(dirname "$0")/stack.sh" --demo
