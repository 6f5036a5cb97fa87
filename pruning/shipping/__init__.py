"""What ships and what it costs: TFLite conversion, sizes, LiteRT accuracy and latency
(timed in a child process), multiply-adds, and the steps after pruning that change what
ships (quantization-aware training, weight clustering)."""
