//! PNG and JSON-lines sinks. (placeholder — being written)
