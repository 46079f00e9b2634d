#!/bin/sh
# The image's command.
echo "hello from an image template built at $(cat /app/built-at), running on $(hostname)"
