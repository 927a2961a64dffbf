"""Custom TensorFlow ops (C++ sources compiled on first use; see each module)."""
