"""A small Keras-like network stack with hand-written backward passes."""
