//! Camera pixel formats to RGB. (placeholder — being written)
