/* The kernel's bits in /proc/PID/pagemap entries and /proc/kpageflags
 * (Documentation/admin-guide/mm/pagemap.rst). */
#ifndef COWSCAN_PAGEBITS_H
#define COWSCAN_PAGEBITS_H

/* /proc/PID/pagemap */
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_SOFT_DIRTY	(1ULL << 55)
#define PM_EXCLUSIVE	(1ULL << 56)
#define PM_GUARD_REGION (1ULL << 58)
#define PM_FILE		(1ULL << 61)
#define PM_SWAP		(1ULL << 62)
#define PM_PRESENT	(1ULL << 63)

/* /proc/kpageflags (include/uapi/linux/kernel-page-flags.h) */
#define KPF_COMPOUND_HEAD (1ULL << 15)
#define KPF_COMPOUND_TAIL (1ULL << 16)
#define KPF_ANON	  (1ULL << 12)
#define KPF_SWAPBACKED	  (1ULL << 14)
#define KPF_HUGE	  (1ULL << 17)
#define KPF_NOPAGE	  (1ULL << 20)
#define KPF_KSM		  (1ULL << 21)
#define KPF_THP		  (1ULL << 22)
#define KPF_ZERO_PAGE	  (1ULL << 24)

/* cowscan reads pagemap in batches of this many entries (512 KiB). */
#define PAGEMAP_BATCH 65536

#endif
