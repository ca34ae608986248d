//! Linux framebuffer devices (`/dev/fbN`): the kernel's linux/fb.h ioctl structures and
//! [`Framebuffer::open_device`], which reads the layout through them and maps the memory.

use super::format::{Bitfield, Geometry};
use super::framebuffer::Framebuffer;
use super::screen::Screen;
use anyhow::{bail, Context, Result};
use memmap2::MmapOptions;
use std::fs::OpenOptions;
use std::path::Path;

// The kernel's linux/fb.h structures, written out by hand. Only a few fields are read;
// the rest are there so the kernel's copy_to_user fits exactly.
const FBIOGET_VSCREENINFO: u32 = 0x4600;
const FBIOGET_FSCREENINFO: u32 = 0x4602;
const FB_TYPE_PACKED_PIXELS: u32 = 0;
const FB_VISUAL_TRUECOLOR: u32 = 2;
const FB_VISUAL_DIRECTCOLOR: u32 = 4;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FbBitfield {
    offset: u32,
    length: u32,
    msb_right: u32,
}

#[repr(C)]
#[derive(Debug, Default)]
#[allow(dead_code)]
struct FbVarScreeninfo {
    xres: u32,
    yres: u32,
    xres_virtual: u32,
    yres_virtual: u32,
    xoffset: u32,
    yoffset: u32,
    bits_per_pixel: u32,
    grayscale: u32,
    red: FbBitfield,
    green: FbBitfield,
    blue: FbBitfield,
    transp: FbBitfield,
    nonstd: u32,
    activate: u32,
    height: u32,
    width: u32,
    accel_flags: u32,
    pixclock: u32,
    left_margin: u32,
    right_margin: u32,
    upper_margin: u32,
    lower_margin: u32,
    hsync_len: u32,
    vsync_len: u32,
    sync: u32,
    vmode: u32,
    rotate: u32,
    colorspace: u32,
    reserved: [u32; 4],
}

#[repr(C)]
#[derive(Debug, Default)]
#[allow(dead_code)]
struct FbFixScreeninfo {
    id: [u8; 16],
    smem_start: libc::c_ulong,
    smem_len: u32,
    type_: u32,
    type_aux: u32,
    visual: u32,
    xpanstep: u16,
    ypanstep: u16,
    ywrapstep: u16,
    line_length: u32,
    mmio_start: libc::c_ulong,
    mmio_len: u32,
    accel: u32,
    capabilities: u16,
    reserved: [u16; 2],
}

impl Framebuffer {
    /// Open a framebuffer device such as `/dev/fb0`: read its layout with the
    /// `FBIOGET_VSCREENINFO`/`FBIOGET_FSCREENINFO` ioctls and map its memory.
    pub fn open_device(path: impl AsRef<Path>) -> Result<Framebuffer> {
        use std::os::fd::AsRawFd;
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| {
            // No screen here (a laptop, a headless board): say which sinks will work.
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "; no framebuffer on this machine: show the camera with --sink http:8080 (a web \
                     page), png:DIR (pictures), json (events) or mqtt:HOST"
            } else {
                ""
            };
            anyhow::anyhow!("framebuffer {name}: cannot open for reading and writing: {e}{hint}")
        })?;
        let mut var = FbVarScreeninfo::default();
        let mut fix = FbFixScreeninfo::default();
        // SAFETY: both requests copy exactly one struct of the declared layout (sizes are
        // checked by const assertions below) into memory we own for the call's duration.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), FBIOGET_VSCREENINFO as _, &mut var as *mut FbVarScreeninfo) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            bail!("{name}: FBIOGET_VSCREENINFO failed ({err}); is it a framebuffer device?");
        }
        // SAFETY: as above.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), FBIOGET_FSCREENINFO as _, &mut fix as *mut FbFixScreeninfo) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            bail!("{name}: FBIOGET_FSCREENINFO failed ({err}); is it a framebuffer device?");
        }
        let id = String::from_utf8_lossy(&fix.id).trim_end_matches('\0').to_string();
        let name = if id.is_empty() { name } else { format!("{name} ({id})") };
        if fix.type_ != FB_TYPE_PACKED_PIXELS {
            bail!("{name}: framebuffer type {} is not packed pixels", fix.type_);
        }
        if fix.visual != FB_VISUAL_TRUECOLOR && fix.visual != FB_VISUAL_DIRECTCOLOR {
            bail!("{name}: visual {} is not true colour (palette and monochrome modes are not supported)", fix.visual);
        }
        if var.grayscale != 0 || var.nonstd != 0 {
            bail!("{name}: grayscale/FOURCC ({}) or non-standard ({}) pixel format", var.grayscale, var.nonstd);
        }
        if [var.red, var.green, var.blue].iter().any(|f| f.msb_right != 0) {
            bail!("{name}: bit-reversed (msb_right) colour channels are not supported");
        }
        let bytes_pp = var.bits_per_pixel as usize / 8;
        let geometry = Geometry {
            width: var.xres,
            height: var.yres,
            bits_per_pixel: var.bits_per_pixel,
            stride: fix.line_length as usize,
            red: Bitfield::new(var.red.offset, var.red.length),
            green: Bitfield::new(var.green.offset, var.green.length),
            blue: Bitfield::new(var.blue.offset, var.blue.length),
            // The visible part of a panned virtual screen.
            offset: var.yoffset as usize * fix.line_length as usize + var.xoffset as usize * bytes_pp,
            big_endian: cfg!(target_endian = "big"),
        };
        geometry.check().map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let len = if fix.smem_len > 0 {
            fix.smem_len as usize
        } else {
            fix.line_length as usize * var.yres_virtual.max(var.yres) as usize
        };
        // SAFETY: the mapping is shared with the display hardware and possibly other
        // processes; it is only ever accessed as plain bytes, for which any content is valid.
        let map = unsafe { MmapOptions::new().len(len).map_mut(&file) }
            .with_context(|| format!("{name}: cannot map {len} bytes of framebuffer memory"))?;
        Self::from_screen(name, geometry, Screen::Mapped(map))
    }
}

// The layouts must match linux/fb.h byte for byte: the var struct is all u32 (160 bytes
// everywhere); the fix one holds two `unsigned long`s, so it is 80 bytes on 64-bit targets
// and 68 on 32-bit ones.
const _: () = assert!(std::mem::size_of::<FbVarScreeninfo>() == 160);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<FbFixScreeninfo>() == 80);
#[cfg(target_pointer_width = "32")]
const _: () = assert!(std::mem::size_of::<FbFixScreeninfo>() == 68);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ioctl_structs_match_linux_fb_h() {
        assert_eq!(std::mem::size_of::<FbVarScreeninfo>(), 160);
        let fix = if cfg!(target_pointer_width = "64") { 80 } else { 68 };
        assert_eq!(std::mem::size_of::<FbFixScreeninfo>(), fix);
        assert_eq!(std::mem::offset_of!(FbFixScreeninfo, line_length), if fix == 80 { 48 } else { 44 });
        assert_eq!(std::mem::offset_of!(FbVarScreeninfo, red), 32);
    }
}
