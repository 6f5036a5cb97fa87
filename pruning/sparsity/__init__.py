"""The math of what is pruned, when and how much: schedules (when the masks change),
distributions (how much of each layer), scoring (which weights or channels), masks,
policies (which layers tfmot wraps) and the sensitivity curves file. All pure and free of
TensorFlow except `policies`, whose classes are tfmot's."""
