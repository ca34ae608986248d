//! Linux framebuffer display sink: `/dev/fbN` through its ioctls and mmap, or any file laid
//! out like a framebuffer (a plain file with a given [`Geometry`], or the XWD screen file that
//! `Xvfb -fbdir DIR` keeps in `DIR/Xvfb_screen0`).
//!
//! Frames are letterboxed onto the screen ([`super::letterbox`]) and converted to the pixel
//! format the driver reports: 16, 24 or 32 bits per pixel with any red/green/blue bitfield
//! placement (RGB565, BGR565, XRGB8888, XBGR8888, …). Rows are addressed by the reported
//! stride, so padding past the visible width is never touched.
//!
//! Tearing: each frame is composed in a private back buffer in device format and then copied
//! to the mapped screen in one pass, so the screen never shows a half-scaled or half-converted
//! frame for long — but the copy is not synchronised with the display scan-out, so tearing is
//! reduced, not eliminated. Double buffering by panning (`FBIOPAN_DISPLAY` into the hidden half
//! when the virtual height is at least twice the visible one) would remove it; that is future
//! work and not done here. Likewise the kernel console is not switched to graphics mode
//! (`KDSETMODE`), so console text printed while running can overwrite the picture until the
//! next frame.

mod device;
mod format;
mod framebuffer;
mod screen;
mod spec;
#[cfg(test)]
mod test_support;
mod xwd;

pub use format::{Bitfield, Geometry};
pub use framebuffer::Framebuffer;
pub use spec::open_spec;
pub use xwd::{parse_xwd, XVFB_SCREEN_FILE};
