//! arm64 reference walker: stage 1 of the EL1&0 translation regime, Arm ARM (DDI 0487)
//! chapter D8 "The AArch64 Virtual Memory System Architecture" (VMSAv8-64).
//!
//! # Configuration (D8 and the register descriptions of TCR_EL1, TTBRn_EL1, MAIR_EL1)
//!
//! | TCR_EL1 field | bits | use |
//! |---|---|---|
//! | T0SZ / T1SZ | 5:0 / 21:16 | input size of the TTBR0 / TTBR1 region = 64 − TnSZ bits |
//! | EPD0 / EPD1 | 7 / 23 | walks through TTBRn disabled: translation fault |
//! | TG0 | 15:14 | 00 4KB, 01 64KB, 10 16KB |
//! | TG1 | 31:30 | 10 4KB, 11 64KB, 01 16KB |
//! | IPS | 34:32 | output size: 32, 36, 40, 42, 44, 48, 52 bits (52 only with 64KB and FEAT_LPA, or DS=1) |
//! | TBI0 / TBI1 | 37 / 38 | top byte ignored: the range check uses VA\[55:IA\] |
//! | HA / HD | 39 / 40 | hardware Access flag / dirty-state (DBM) management |
//! | HPD0 / HPD1 | 41 / 42 | hierarchical permissions disabled (APTable/XNTable ignored) |
//! | DS | 59 | FEAT_LPA2: 52-bit OA and VA for 4KB/16KB |
//!
//! VA\[55\] selects TTBR0 (0) or TTBR1 (1); the bits VA\[top:IA\] must all equal VA\[55\] (all
//! zeros for TTBR0, all ones for TTBR1), otherwise a level 0 translation fault, reported
//! here as [`FaultKind::NonCanonical`] (as is a walk disabled by EPDn).
//!
//! TTBRn_EL1.BADDR (bits 47:1) holds the base of the initial table, aligned to its size;
//! when the output size is 52 bits, TTBR\[5:2\] holds BADDR\[51:48\] (D8 "Translation table
//! base address" with FEAT_LPA/FEAT_LPA2, and the TTBRn_EL1 register description).
//!
//! # Geometry (D8, "Translation granule" and "Initial lookup level")
//!
//! With granule 2^g (g = 12, 14, 16) every level resolves g − 3 bits; the last level is
//! level 3; the initial level is the one at which the remaining IA bits start
//! (4 − ⌈(IA − g)/(g − 3)⌉, so −1 for 52-bit 4KB with DS). The initial table resolves the
//! leftover (possibly fewer) bits.
//!
//! # Descriptors (D8 "Translation table descriptor formats")
//!
//! bits\[1:0\]: `x0` invalid (translation fault); at level 3 `11` page, `01` reserved
//! (treated as invalid: translation fault, reported as `Reserved(0b01)`); at other levels
//! `11` table, `01` block, where blocks exist only at: 4KB level 1 (1GB) and 2 (2MB), and
//! level 0 with DS; 16KB level 2 (32MB), and level 1 with DS; 64KB level 2 (512MB), and
//! level 1 (4TB) with FEAT_LPA. A block elsewhere is reported as `Reserved(0b01)`.
//!
//! Output / next-level address: bits 47:g (blocks 47:level's lsb); with the 64KB granule
//! bits 15:12 are OA\[51:48\] (FEAT_LPA); with DS=1, bits 49:g plus bits 9:8 as OA\[51:50\].
//! An address beyond the IPS size is an Address size fault ([`FaultKind::AddressSize`]).
//!
//! Table descriptor attributes ("Table descriptor format", and "Hierarchical permissions"): 59 PXNTable,
//! 60 UXNTable, 62:61 APTable (bit 61: no EL0 access below, bit 62: no write access below),
//! 63 NSTable (ignored, Non-secure state assumed). Ignored when HPDn=1.
//!
//! Block/page attributes ("Block descriptor and Page descriptor formats"): 4:2 AttrIndx (index into MAIR_EL1), 5 NS, 7:6 AP\[2:1\],
//! 9:8 SH (with DS=0), 10 AF, 11 nG, 51 DBM, 52 Contiguous (hint), 53 PXN, 54 UXN,
//! 58:55 software.
//!
//! # Access flag and dirty state (D8, "The Access flag" and "Hardware management of the
//! dirty state")
//!
//! AF=0 in a leaf → Access flag fault unless TCR.HA=1. With TCR.HD=1 a leaf with DBM=1
//! and AP\[2\]=1 is writable (hardware clears AP\[2\] on the first write).
//!
//! # Permissions (D8 "Memory access control": "Access permissions", "Execute-never controls")
//!
//! AP\[2:1\]: 00 EL1 RW / EL0 none; 01 EL1 RW / EL0 RW; 10 EL1 RO / EL0 none; 11 EL1 RO /
//! EL0 RO. EL0 execution is governed by UXN (and UXNTable) only, so AP=00/10 with UXN=0 is
//! EL0 execute-only; EL1 execution needs PXN=0 (and PXNTable=0), and any region writable
//! at EL0 is treated as PXN. Assumed: SCTLR_EL1.WXN=0, PSTATE.PAN=0, no FEAT_PAN3/EPAN,
//! no permission indirection (FEAT_S1PIE), no GCS, no overlays.
//!
//! Memory type: MAIR_EL1 byte AttrIndx, decoded by the module's shared Arm attribute decoder (`arm_attr_memtype` in `refwalk`).

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::{bit, bits, field, read_le64, Fault, FaultKind, MemType, Perms};
use crate::refwalk::{RefTranslation, WalkResult};

/// MAIR_EL1 as Linux programs it (arch/arm64 `MAIR_EL1_SET`, MTE off): index 0 Normal WB
/// (0xff), 1 Normal-Tagged (0xff until MTE is enabled), 2 Normal-NC (0x44),
/// 3 Device-nGnRnE (0x00), 4 Device-nGnRE (0x04).
pub const LINUX_MAIR: u64 = 0x0000_0004_0044_ffff;

/// TCR_EL1.TG0 encodings.
pub const TG0_4K: u64 = 0b00;
/// TCR_EL1.TG0 = 64KB.
pub const TG0_64K: u64 = 0b01;
/// TCR_EL1.TG0 = 16KB.
pub const TG0_16K: u64 = 0b10;
/// TCR_EL1.TG1 = 16KB.
pub const TG1_16K: u64 = 0b01;
/// TCR_EL1.TG1 = 4KB.
pub const TG1_4K: u64 = 0b10;
/// TCR_EL1.TG1 = 64KB.
pub const TG1_64K: u64 = 0b11;

/// The registers of the EL1&0 stage 1 regime.
#[derive(Clone, Copy, Debug)]
pub struct Arm64Config {
    /// TTBR0_EL1.
    pub ttbr0: u64,
    /// TTBR1_EL1.
    pub ttbr1: u64,
    /// TCR_EL1.
    pub tcr: u64,
    /// MAIR_EL1.
    pub mair: u64,
    /// FEAT_LPA implemented (64KB: 52-bit OA, level 1 blocks).
    pub feat_lpa: bool,
}

/// TCR field helpers.
pub mod tcr {
    /// T0SZ.
    pub const fn t0sz(v: u64) -> u64 {
        v & 0x3f
    }
    /// EPD0.
    pub const EPD0: u64 = 1 << 7;
    /// TG0 field value.
    pub const fn tg0(v: u64) -> u64 {
        v << 14
    }
    /// T1SZ.
    pub const fn t1sz(v: u64) -> u64 {
        (v & 0x3f) << 16
    }
    /// EPD1.
    pub const EPD1: u64 = 1 << 23;
    /// TG1 field value.
    pub const fn tg1(v: u64) -> u64 {
        v << 30
    }
    /// IPS field value (0 = 32 bits ... 5 = 48 bits, 6 = 52 bits).
    pub const fn ips(v: u64) -> u64 {
        v << 32
    }
    /// TBI0.
    pub const TBI0: u64 = 1 << 37;
    /// TBI1.
    pub const TBI1: u64 = 1 << 38;
    /// HA.
    pub const HA: u64 = 1 << 39;
    /// HD.
    pub const HD: u64 = 1 << 40;
    /// HPD0.
    pub const HPD0: u64 = 1 << 41;
    /// HPD1.
    pub const HPD1: u64 = 1 << 42;
    /// DS.
    pub const DS: u64 = 1 << 59;
}

impl Arm64Config {
    /// The configuration for archmm mode `arm64-<4k|16k|64k>-<va bits>[-ttbr0]` with `root`
    /// in TTBR1 (or TTBR0), Linux's MAIR, the other half disabled; see
    /// [`crate::refwalk::walk_mode`].
    pub fn from_mode_name(name: &str, root: u64) -> Option<Self> {
        let rest = name.strip_prefix("arm64-")?;
        let (rest, ttbr0) = match rest.strip_suffix("-ttbr0") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (gran, bits) = rest.split_once('-')?;
        let granule_kb = gran.strip_suffix('k')?.parse().ok()?;
        Self::linux(granule_kb, bits.parse().ok()?, ttbr0, root)
    }

    /// The configuration Linux programs for a `granule_kb` KiB granule and `va_bits`-bit
    /// addresses, with `root` in TTBR1 (or TTBR0 with `ttbr0`), the other half disabled.
    pub fn linux(granule_kb: u32, va_bits: u32, ttbr0: bool, root: u64) -> Option<Self> {
        let va_bits = u64::from(va_bits);
        let (tg0, tg1, g) = match granule_kb {
            4 => (TG0_4K, TG1_4K, 12),
            16 => (TG0_16K, TG1_16K, 14),
            64 => (TG0_64K, TG1_64K, 16),
            _ => return None,
        };
        if !(16..=52).contains(&va_bits) {
            return None;
        }
        let ds = g != 16 && va_bits > 48;
        let ips = if g == 16 || ds { 6 } else { 5 };
        // Both halves get the same geometry; the one without the root is disabled.
        let mut t = tcr::ips(ips) | if ds { tcr::DS } else { 0 };
        t |= tcr::t0sz(64 - va_bits) | tcr::tg0(tg0) | tcr::t1sz(64 - va_bits) | tcr::tg1(tg1);
        let ttbr = encode_ttbr(root, ips == 6);
        let (ttbr0v, ttbr1v) = if ttbr0 {
            t |= tcr::EPD1;
            (ttbr, 0)
        } else {
            t |= tcr::EPD0;
            (0, ttbr)
        };
        Some(Self { ttbr0: ttbr0v, ttbr1: ttbr1v, tcr: t, mair: LINUX_MAIR, feat_lpa: true })
    }
}

/// TTBR value holding table base `pa`: BADDR in bits 47:1, and with a 52-bit output size
/// BADDR\[51:48\] in bits 5:2.
pub fn encode_ttbr(pa: u64, pa52: bool) -> u64 {
    if pa52 {
        (pa & field(47, 6)) | (bits(pa, 51, 48) << 2)
    } else {
        pa & field(47, 1)
    }
}

/// Output address size in bits for an IPS/PS encoding.
fn ips_bits(ips: u64) -> u32 {
    match ips {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Decode an Arm "Normal/Device" attribute byte (MAIR_ELx / MAIR0/1 field, Arm ARM register
/// descriptions of MAIR_EL1 and of the v7 MAIR0/MAIR1) into a [`MemType`].
///
/// `0b0000_dd00` is Device (nGnRnE/nGnRE/nGRE/GRE); otherwise the high nibble is the Outer
/// and the low nibble the Inner attribute: `0b0100` Non-cacheable, `0b00RW`/`0b10RW`
/// (RW≠0) write-through, `0b01RW`/`0b11RW` (RW≠0) write-back. Both halves write-back →
/// [`MemType::Normal`]; both non-cacheable → [`MemType::WriteCombine`]; anything else →
/// [`MemType::Other`] with the byte.
pub(crate) fn arm_attr_memtype(attr: u8) -> MemType {
    let (outer, inner) = (attr >> 4, attr & 0xf);
    if outer == 0 {
        return if inner & 0b0011 == 0 { MemType::Device } else { MemType::Other(attr as u64) };
    }
    let wb = |n: u8| n & 0b0100 != 0 && n & 0b0011 != 0;
    if wb(outer) && wb(inner) {
        MemType::Normal
    } else if outer == 0b0100 && inner == 0b0100 {
        MemType::WriteCombine
    } else {
        MemType::Other(attr as u64)
    }
}

/// Translate `va` (stage 1, EL1&0).
pub fn walk(mem: &impl PhysMem, cfg: &Arm64Config, va: u64) -> WalkResult {
    let t = cfg.tcr;
    let upper = bit(va, 55);
    let (ttbr, tsz, g, epd, tbi, hpd) = if upper {
        let g = match bits(t, 31, 30) {
            TG1_16K => 14,
            TG1_64K => 16,
            _ => 12,
        };
        (cfg.ttbr1, bits(t, 21, 16) as u32, g, bit(t, 23), bit(t, 38), bit(t, 42))
    } else {
        let g = match bits(t, 15, 14) {
            TG0_64K => 16,
            TG0_16K => 14,
            _ => 12,
        };
        (cfg.ttbr0, bits(t, 5, 0) as u32, g, bit(t, 7), bit(t, 37), bit(t, 41))
    };
    let ds = bit(t, 59) && g != 16;
    let (ha, hd) = (bit(t, 39), bit(t, 40));
    let stride = g - 3;
    let ia = 64 - tsz;
    let ia_max = if ds || (g == 16 && cfg.feat_lpa) { 52 } else { 48 };
    if ia > ia_max || ia < 16 || ia <= g {
        // A disabled half need not have a sensible size.
        let kind = if epd { FaultKind::NonCanonical } else { FaultKind::BadConfig };
        return Err(Fault::new(0, kind));
    }
    let levels = (ia - g).div_ceil(stride) as usize;
    let start = 4 - levels as i32; // Arm level of the initial lookup
    let mut pa_bits = ips_bits(bits(t, 34, 32));
    if pa_bits == 52 && !(ds || (g == 16 && cfg.feat_lpa)) {
        pa_bits = 48;
    }
    let root_level = levels - 1;
    // Range check: VA[top:IA] all equal to VA[55].
    let top = if tbi { 55 } else { 63 };
    let hi = bits(va, top, ia);
    let want = if upper { crate::refwalk::mask(top - ia) } else { 0 };
    if hi != want || epd {
        return Err(Fault::new(root_level, FaultKind::NonCanonical));
    }
    // Initial table base: BADDR aligned to the initial table's size (at least 64 bytes
    // with a 52-bit output size).
    let root_bits = ia - g - stride * (levels as u32 - 1);
    let mut align = (root_bits + 3).max(3);
    let mut table = if pa_bits == 52 {
        align = align.max(6);
        (ttbr & field(47, 6)) | (bits(ttbr, 5, 2) << 48)
    } else {
        ttbr & field(47, 1)
    };
    table &= !((1u64 << align) - 1);
    if table >> pa_bits != 0 {
        return Err(Fault::new(root_level, FaultKind::AddressSize));
    }
    let oa = |desc: u64, lsb: u32| -> u64 {
        if g == 16 {
            (desc & field(47, lsb)) | (bits(desc, 15, 12) << 48)
        } else if ds {
            (desc & field(49, lsb)) | (bits(desc, 9, 8) << 50)
        } else {
            desc & field(47, lsb)
        }
    };
    // Hierarchical controls accumulated from table descriptors.
    let (mut no_el0, mut no_write, mut pxn_t, mut uxn_t) = (false, false, false, false);
    for arm_level in start..=3 {
        let level = (3 - arm_level) as usize;
        let lsb = g + stride * level as u32;
        let msb = if arm_level == start { ia - 1 } else { lsb + stride - 1 };
        let desc = read_le64(mem, table + bits(va, msb, lsb) * 8);
        if desc & 1 == 0 {
            return Err(Fault::new(level, FaultKind::NotPresent));
        }
        let is_table = desc & 2 != 0 && arm_level < 3;
        if !is_table {
            let block_ok = arm_level == 3
                || match g {
                    12 => arm_level == 1 || arm_level == 2 || (ds && arm_level == 0),
                    14 => arm_level == 2 || (ds && arm_level == 1),
                    _ => arm_level == 2 || (cfg.feat_lpa && arm_level == 1),
                };
            let is_page = arm_level == 3 && desc & 2 != 0;
            if !(is_page || (arm_level < 3 && block_ok)) {
                return Err(Fault::new(level, FaultKind::Reserved(desc & 3)));
            }
            let out = oa(desc, lsb);
            if out >> pa_bits != 0 {
                return Err(Fault::new(level, FaultKind::AddressSize));
            }
            if !bit(desc, 10) && !ha {
                return Err(Fault::new(level, FaultKind::AccessFlag));
            }
            let size = 1u64 << lsb;
            let ap = bits(desc, 7, 6);
            let el0 = ap & 1 != 0 && !no_el0;
            let dbm_writable = hd && bit(desc, 51);
            let ro = (ap & 2 != 0 && !dbm_writable) || no_write;
            let user_write = el0 && !ro;
            let user_exec = !bit(desc, 54) && !uxn_t;
            let kernel_exec = !bit(desc, 53) && !pxn_t && !user_write;
            let perms =
                Perms { kernel_read: true, kernel_write: !ro, kernel_exec, user_read: el0, user_write, user_exec };
            let attr = (cfg.mair >> (bits(desc, 4, 2) * 8)) as u8;
            // EL0 can use the page if it may load, store or fetch (execute-only counts).
            let user = el0 || user_exec;
            return Ok(RefTranslation {
                pa: out | (va & (size - 1)),
                page_size: size,
                level,
                readable: if user { el0 } else { true },
                writable: if user { user_write } else { !ro },
                executable: if user { user_exec } else { kernel_exec },
                user,
                global: !bit(desc, 11),
                memtype: arm_attr_memtype(attr),
                raw_leaf: desc,
                perms,
                store_needs_dirty: false,
            });
        }
        table = oa(desc, g);
        if table >> pa_bits != 0 {
            return Err(Fault::new(level, FaultKind::AddressSize));
        }
        if !hpd {
            pxn_t |= bit(desc, 59);
            uxn_t |= bit(desc, 60);
            no_el0 |= bit(desc, 61);
            no_write |= bit(desc, 62);
        }
    }
    unreachable!("level 3 always ends the walk")
}

/// `arm64-<g>-<n>`: TTBR1_EL1 = root, TG1 = granule `g`, T1SZ = 64-`n`, EPD0=1 (the lower
/// half faults), IPS = 52 bits for 64K granules (FEAT_LPA) and 48 bits for 4K/16K, DS=0,
/// HA=HD=0, TBI=0, HPD=0, Linux's MAIR_EL1 (index 0 Normal WB (0xff), 1 Normal-Tagged (0xff
/// until MTE is enabled), 2 Normal-NC (0x44), 3 Device-nGnRnE (0x00), 4 Device-nGnRE
/// (0x04)). `arm64-<g>-<n>-ttbr0`: the same through TTBR0_EL1/TG0/T0SZ, EPD1=1.
impl<const GRANULE_KB: u32, const VA: u32, const TTBR0: bool> crate::refwalk::RefWalk
    for crate::arch::arm64::Arm64Paging<GRANULE_KB, VA, TTBR0>
{
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        match Arm64Config::linux(GRANULE_KB, VA, TTBR0, root) {
            Some(cfg) => walk(mem, &cfg, va),
            None => Err(Fault::new(0, FaultKind::BadConfig)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refwalk::testmem::Mem;
    use crate::refwalk::{Access, MemType};

    const TABLE: u64 = 0b11;
    const PAGE: u64 = 0b11;
    const BLOCK: u64 = 0b01;
    const AF: u64 = 1 << 10;
    const NG: u64 = 1 << 11;
    const AP_EL0: u64 = 1 << 6; // AP[1]
    const AP_RO: u64 = 1 << 7; // AP[2]
    const PXN: u64 = 1 << 53;
    const UXN: u64 = 1 << 54;
    const fn attr(i: u64) -> u64 {
        i << 2
    }

    fn cfg(name: &str, root: u64) -> Arm64Config {
        Arm64Config::from_mode_name(name, root).unwrap()
    }

    #[test]
    fn four_k_48_ttbr1_page() {
        let mem = Mem::new();
        let va = 0xffff_0012_3456_7abcu64;
        // Level 0..3 indices: VA[47:39], [38:30], [29:21], [20:12].
        let i = |l: u32| (va >> (39 - 9 * l)) & 511;
        mem.le64(0x10000 + i(0) * 8, 0x11000 | TABLE);
        mem.le64(0x11000 + i(1) * 8, 0x12000 | TABLE);
        mem.le64(0x12000 + i(2) * 8, 0x13000 | TABLE);
        mem.le64(0x13000 + i(3) * 8, 0x8_0000_5000 | PAGE | AF | PXN | UXN | attr(0));
        let c = cfg("arm64-4k-48", 0x10000);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!(t.pa, 0x8_0000_5abc);
        assert_eq!((t.page_size, t.level), (4096, 0));
        assert!(t.readable && t.writable && !t.executable && !t.user && t.global);
        assert_eq!(t.memtype, MemType::Normal);
        // The lower half is disabled (EPD0), and VA[63:48] must be all ones.
        assert_eq!(walk(&mem, &c, 0x1000).unwrap_err().kind, FaultKind::NonCanonical);
        assert_eq!(walk(&mem, &c, 0xfffe_0000_0000_0000 | (1 << 55)).unwrap_err().kind, FaultKind::NonCanonical);
        // Unmapped neighbour.
        assert_eq!(walk(&mem, &c, va + 0x1000), Err(Fault::new(0, FaultKind::NotPresent)));
        // Level-3 descriptor type 0b01 is reserved.
        mem.le64(0x13000 + i(3) * 8, 0x8_0000_5000 | BLOCK | AF);
        assert_eq!(walk(&mem, &c, va), Err(Fault::new(0, FaultKind::Reserved(1))));
        // AF=0: Access flag fault (HA=0).
        mem.le64(0x13000 + i(3) * 8, 0x8_0000_5000 | PAGE);
        assert_eq!(walk(&mem, &c, va), Err(Fault::new(0, FaultKind::AccessFlag)));
        let ha = Arm64Config { tcr: c.tcr | tcr::HA, ..c };
        assert!(walk(&mem, &ha, va).is_ok());
    }

    #[test]
    fn four_k_blocks_and_attrs() {
        let mem = Mem::new();
        let c = cfg("arm64-4k-39-ttbr0", 0x20000); // 3 levels from level 1
                                                   // 1GB block at level 1, entry 2, Device-nGnRE, EL0 RO, nG.
        mem.le64(0x20000 + 2 * 8, 0x4000_0000 | BLOCK | AF | NG | AP_EL0 | AP_RO | attr(4));
        let t = walk(&mem, &c, 0x8123_4567).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x4123_4567, 1 << 30, 2));
        assert_eq!(t.memtype, MemType::Device);
        assert!(t.user && !t.writable && !t.global && t.executable);
        // EL0-readable, not EL0-writable: EL1 may execute.
        assert!(t.perms.kernel_exec);
        // 2MB block at level 2 via a table, Normal-NC, EL0 RW → PXN implied.
        mem.le64(0x20000 + 3 * 8, 0x21000 | TABLE);
        mem.le64(0x21000 + 5 * 8, 0x20_0000 | BLOCK | AF | AP_EL0 | attr(2));
        let t = walk(&mem, &c, 0xc0a1_2345).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x21_2345, 2 << 20, 1));
        assert_eq!(t.memtype, MemType::WriteCombine);
        assert!(t.user && t.writable && t.executable && !t.perms.kernel_exec);
        // APTable[0] (no EL0) and APTable[1] (read-only) and UXNTable in the table entry.
        mem.le64(0x20000 + 3 * 8, 0x21000 | TABLE | (0b11 << 61) | (1 << 60));
        let t = walk(&mem, &c, 0xc0a1_2345).unwrap();
        assert!(!t.user && !t.writable && !t.perms.user_exec && t.perms.kernel_exec);
        assert!(t.check(Access { write: true, ..Access::default() }).is_err());
        // With HPD0=1 the table attributes are ignored.
        let hpd = Arm64Config { tcr: c.tcr | tcr::HPD0, ..c };
        assert!(walk(&mem, &hpd, 0xc0a1_2345).unwrap().user);
        // Execute-only for EL0: AP=00 with UXN=0.
        mem.le64(0x20000 + 3 * 8, 0x21000 | TABLE);
        mem.le64(0x21000 + 6 * 8, 0x40_0000 | BLOCK | AF | PXN);
        let t = walk(&mem, &c, 0xc0c0_0000).unwrap();
        assert!(t.user && t.perms.user_exec && !t.perms.user_read && !t.perms.kernel_exec);
        assert!(!t.readable && !t.writable && t.executable && t.perms.kernel_read);
        // Out of the 39-bit range.
        assert_eq!(walk(&mem, &c, 1 << 39).unwrap_err().kind, FaultKind::NonCanonical);
    }

    #[test]
    fn sixteen_k() {
        let mem = Mem::new();
        // 47 bits: levels 1..3 with 11 bits each: VA[46:36], [35:25], [24:14].
        let c = cfg("arm64-16k-47", 0x40000);
        let va = 0xffff_8123_4567_89abu64;
        let i = |l: u32| (va >> (36 - 11 * (l - 1))) & 0x7ff;
        mem.le64(0x40000 + i(1) * 8, 0x44000 | TABLE);
        mem.le64(0x44000 + i(2) * 8, 0x48000 | TABLE);
        mem.le64(0x48000 + i(3) * 8, 0x1234_c000 | PAGE | AF);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x1234_c000 | (va & 0x3fff), 16384, 0));
        // 32MB block at level 2.
        mem.le64(0x44000 + i(2) * 8, 0x4200_0000 | BLOCK | AF);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x4200_0000 | (va & 0x1ff_ffff), 32 << 20, 1));
        // Level-1 blocks need DS with 16KB.
        mem.le64(0x40000 + i(1) * 8, 0x10_0000_0000 | BLOCK | AF);
        assert_eq!(walk(&mem, &c, va), Err(Fault::new(2, FaultKind::Reserved(1))));
        // 48 bits: level 0 resolves VA[47] only (2 entries).
        let c = cfg("arm64-16k-48", 0x50000);
        mem.le64(0x50000 + 8, 0x54000 | TABLE);
        assert_eq!(walk(&mem, &c, 0xffff_8000_0000_0000), Err(Fault::new(2, FaultKind::NotPresent)));
        assert_eq!(walk(&mem, &c, 0xffff_0000_0000_0000), Err(Fault::new(3, FaultKind::NotPresent)));
        // 36 bits: two levels (2 and 3), level 2 resolves VA[35:25].
        let c = cfg("arm64-16k-36-ttbr0", 0x60000);
        mem.le64(0x60000 + 0x7ff * 8, 0x6_0000_0000 | BLOCK | AF);
        let t = walk(&mem, &c, 0xf_fe00_0001).unwrap();
        assert_eq!((t.pa, t.level), (0x6_0000_0001, 1));
    }

    #[test]
    fn sixty_four_k_52bit() {
        let mem = Mem::new();
        // 52-bit VA and PA with 64KB: level 1 resolves VA[51:42] (1024 entries), the root
        // lives above 2^48 (TTBR[5:2] = BADDR[51:48]).
        let root = 0x3_0000_0001_0000u64;
        let c = cfg("arm64-64k-52", root);
        assert_eq!(bits(c.ttbr1, 5, 2), 3);
        let va = 0xfff8_1234_5678_9abcu64;
        let i1 = (va >> 42) & 0x3ff;
        let i2 = (va >> 29) & 0x1fff;
        let i3 = (va >> 16) & 0x1fff;
        // Next-level table at 0x5_0000_0002_0000: OA[51:48]=5 in bits 15:12.
        mem.le64(root + i1 * 8, 0x2_0000 | (5 << 12) | TABLE);
        let l2 = 0x5_0000_0002_0000u64;
        mem.le64(l2 + i2 * 8, 0x3_0000 | TABLE);
        mem.le64(0x3_0000 + i3 * 8, 0x7_0000 | (0xf << 12) | PAGE | AF);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!(t.pa, 0xf_0000_0007_9abc);
        assert_eq!((t.page_size, t.level), (65536, 0));
        // 512MB block at level 2 and 4TB block at level 1 (FEAT_LPA).
        mem.le64(l2 + i2 * 8, 0x2000_0000 | BLOCK | AF);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x2000_0000 | (va & 0x1fff_ffff), 512 << 20, 1));
        mem.le64(root + i1 * 8, 0x400_0000_0000 | BLOCK | AF);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!((t.page_size, t.level), (4 << 40, 2));
        // The same OA bits with a 48-bit IPS are an address size fault.
        let c48 = Arm64Config { tcr: (c.tcr & !tcr::ips(7)) | tcr::ips(5), ttbr1: 0x1_0000, ..c };
        let va48 = 0xffff_0000_0000_0000u64;
        mem.le64(0x1_0000 + ((va48 >> 42) & 0x3ff) * 8, 0x2_0000 | (1 << 12) | TABLE);
        assert_eq!(walk(&mem, &c48, va48).unwrap_err().kind, FaultKind::AddressSize);
    }

    #[test]
    fn sixty_four_k_42() {
        let mem = Mem::new();
        let c = cfg("arm64-64k-42", 0x10_0000);
        let va = 0xffff_fc00_2001_2345u64; // VA[41:29] = 1, VA[28:16] = 1
        mem.le64(0x10_0000 + 8, 0x11_0000 | TABLE);
        mem.le64(0x11_0000 + 8, 0x99_0000 | PAGE | AF | AP_EL0 | UXN);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!((t.pa, t.level), (0x99_2345, 0));
        assert!(t.user && t.writable && !t.executable);
        assert!(t.check(Access { user: true, write: true, exec: false }).is_ok());
        assert!(t.check(Access { user: true, write: false, exec: true }).is_err());
    }

    #[test]
    fn four_k_52_with_ds() {
        // FEAT_LPA2: 4KB granule, 52-bit VA (T1SZ = 12) starts at level -1 with 16 entries
        // (VA[51:48]); OA[51:50] live in descriptor bits 9:8; level 0 blocks (512GB) exist.
        let mem = Mem::new();
        let c = cfg("arm64-4k-52", 0x1000);
        assert!(c.tcr & tcr::DS != 0);
        let va = 0xfff1_0023_4567_89abu64;
        mem.le64(0x1000 + 8, 0x2000 | TABLE);
        mem.le64(0x2000 + ((va >> 39) & 511) * 8, 0b01 << 8 | BLOCK | AF);
        let t = walk(&mem, &c, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (1 << 50 | (va & ((1 << 39) - 1)), 1 << 39, 3));
        assert_eq!(walk(&mem, &c, 0xfff2_0000_0000_0000), Err(Fault::new(4, FaultKind::NotPresent)));
    }

    #[test]
    fn dbm_with_hd() {
        let mem = Mem::new();
        let c = cfg("arm64-4k-39-ttbr0", 0x20000);
        // A kernel page (UXN set: without it EL0 could execute it) that is clean: AP[2]=1,
        // DBM=1.
        mem.le64(0x20000, 0x4000_0000 | BLOCK | AF | AP_RO | UXN | (1 << 51));
        let t = walk(&mem, &c, 0).unwrap();
        assert!(!t.user && !t.writable);
        let hd = Arm64Config { tcr: c.tcr | tcr::HD | tcr::HA, ..c };
        assert!(walk(&mem, &hd, 0).unwrap().writable);
        // Without UXN the "kernel" page is EL0 execute-only.
        mem.le64(0x20000, 0x4000_0000 | BLOCK | AF | AP_RO | PXN);
        let t = walk(&mem, &c, 0).unwrap();
        assert!(t.user && t.executable && !t.readable && t.perms.kernel_read);
    }

    #[test]
    fn bad_names() {
        assert!(Arm64Config::from_mode_name("arm64-8k-48", 0).is_none());
        assert!(Arm64Config::from_mode_name("arm64-4k", 0).is_none());
    }
}
