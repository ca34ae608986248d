//! SPI LCD. (placeholder — being written)
