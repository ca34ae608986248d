//! Linux framebuffer. (placeholder — being written)
