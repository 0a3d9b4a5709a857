"""Inference: what runs when someone talks to a trained counselling model.

`safety` holds the crisis screen, the screen for generated replies and the fixed supportive texts; the
conversation engine and its front ends build on it.
"""
