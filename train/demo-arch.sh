# The bundled demo model's architecture, as `geocot model tiny` flags; sourced by train/demo-model.sh
# and train/localisation-probe.sh so the two build the same model.
# GLM-4.1V (Glm4vForConditionalGeneration) at 1.2M parameters: 64 px images, 8 px patches with no
# 2x2 merge (64 image tokens, one per 8x8 patch), a token per coordinate value 0..64 (sinusoidal
# start), and 64 px tiles (32 px overlap) recorded for inference.
DEMO_ARCH=(--seed 0 --image-size 64 --patch-size 8 --merge-size 1
           --hidden-size 128 --layers 4 --heads 4 --kv-heads 2 --intermediate-size 384
           --vision-hidden-size 64 --vision-layers 2 --vision-heads 4 --vision-intermediate-size 128
           --coordinate-tokens 64 --native-tiling)
