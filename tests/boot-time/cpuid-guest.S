/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A tiny PVH guest for start-up benchmarks and the KVM query cache test.
 *
 * A PVH kernel as the loader sees it (hw/i386/direct_boot_plan.c): an
 * x86_64 ELF with Xen's PHYS32_ENTRY note, so pc-lite enters pvh_entry in
 * 32-bit protected mode with paging off, as it enters a Linux vmlinux.
 * pvh_entry switches to long mode on its own identity map of the first
 * GiB (2 MiB pages) and jumps to the 64-bit code (which runs at full speed
 * also under a nested, software-assisted KVM).  That code dumps CPUID for a
 * fixed grid of leaves/subleaves and reads a list of MSRs (a #GP from an
 * absent MSR is caught and recorded), stores everything at RESULTS, writes
 * DONE_MAGIC at DONE and halts.  The host reads the area back with QMP
 * pmemsave.  Layout at 0x1001000 (tests/boot/test_kvm_query_cache.py):
 *   +0       u32 done magic (0x600dcafe)
 *   +4       u32 number of CPUID records, +8 u32 number of MSR records
 *   +0x10    CPUID records: leaf, subleaf, eax, ebx, ecx, edx (6 x u32)
 *   +0x4000  MSR records: index, fault (0/1), eax, edx (4 x u32)
 * Linked at 0x1000000 (tests/boot-time/startup.py, build_guest()).
 */
#define DONE_MAGIC 0x600dcafe

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define CR0_PE          0x00000001
#define CR0_PG          0x80000000
#define CR4_PAE         0x00000020
#define MSR_EFER        0xc0000080
#define EFER_LME        0x00000100
#define PTE_PRESENT_RW  0x003
#define PDE_2M          0x083           /* present, writable, 2 MiB page */

    /* The PVH entry point, as Linux's arch/x86/platform/pvh/head.S has it. */
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4                             /* namesz: "Xen\0" */
    .long 4                             /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long pvh_entry
    .popsection

    .text
    .code32
    .globl pvh_entry
pvh_entry:
    cli
    mov $pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_PE), %eax
    mov %eax, %cr0
    lgdt gdt_desc
    ljmp $0x08, $entry

    .code64
    .globl entry
entry:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $stack_top, %esp
    lidt idt_desc
    /* IDT entry 13 (#GP) -> gp_handler, 64-bit interrupt gate, this CS */
    mov %cs, %ax
    mov $gp_handler, %edx
    mov %dx, idt + 13 * 16
    mov %ax, idt + 13 * 16 + 2
    movw $0x8e00, idt + 13 * 16 + 4
    shr $16, %edx
    mov %dx, idt + 13 * 16 + 6

    mov $cpuid_out, %edi
    xor %ebx, %ebx              /* record count */
    mov $ranges, %esi
next_range:
    mov (%esi), %ebp            /* first leaf; 0 ends (after range 0) */
    cmp $0xffffffff, %ebp
    je cpuid_done
leaf_loop:
    cmp 4(%esi), %ebp           /* last leaf, inclusive */
    ja range_done
    xor %ecx, %ecx
sub_loop:
    cmp 8(%esi), %ecx           /* subleaf count */
    jae leaf_done
    mov %ecx, %r8d
    mov %ebx, %r9d
    mov %ebp, %eax
    cpuid
    mov %ebp, (%edi)
    mov %r8d, 4(%edi)
    mov %eax, 8(%edi)
    mov %ebx, 12(%edi)
    mov %ecx, 16(%edi)
    mov %edx, 20(%edi)
    mov %r8d, %ecx
    mov %r9d, %ebx
    inc %ebx
    add $24, %edi
    inc %ecx
    jmp sub_loop
leaf_done:
    inc %ebp
    jmp leaf_loop
range_done:
    add $12, %esi
    jmp next_range
cpuid_done:
    mov %ebx, RESULTS + 4

    mov $msr_list, %esi
    mov $msr_out, %edi
    xor %ebx, %ebx
msr_loop:
    mov (%esi), %ecx
    test %ecx, %ecx
    jz msr_done
    xor %ebp, %ebp              /* set to 1 by gp_handler */
    xor %eax, %eax
    xor %edx, %edx
    rdmsr                       /* 2 bytes: the handler skips it on #GP */
    mov %ecx, (%edi)
    mov %ebp, 4(%edi)
    mov %eax, 8(%edi)
    mov %edx, 12(%edi)
    add $16, %edi
    add $4, %esi
    inc %ebx
    jmp msr_loop
msr_done:
    mov %ebx, RESULTS + 8
    movl $DONE_MAGIC, RESULTS
halt:
    hlt
    jmp halt

gp_handler:
    add $8, %rsp                /* error code */
    addq $2, (%rsp)             /* skip rdmsr */
    mov $1, %ebp
    iretq

    .balign 8
gdt:
    .quad 0
    .quad 0x00af9b000000ffff            /* 0x08: 64-bit code */
    .quad 0x00cf93000000ffff            /* 0x10: data */
gdt_desc:
    .word gdt_desc - gdt - 1
    .long gdt

    .balign 8
idt_desc:
    .word 256 * 16 - 1
    .quad idt

ranges:                         /* first leaf, last leaf, subleaves */
    .long 0x00000000, 0x00000020, 8
    .long 0x40000000, 0x40000010, 1
    .long 0x80000000, 0x80000028, 2
    .long 0xffffffff

msr_list:
    .long 0x0000001b            /* APIC_BASE */
    .long 0x0000003a            /* FEATURE_CONTROL */
    .long 0x0000008b            /* UCODE_REV */
    .long 0x000000ce            /* PLATFORM_INFO */
    .long 0x000000cf            /* CORE_CAPABILITY */
    .long 0x000000fe            /* MTRRCAP */
    .long 0x0000010a            /* ARCH_CAPABILITIES */
    .long 0x00000140            /* MISC_FEATURES_ENABLES */
    .long 0x00000179            /* MCG_CAP */
    .long 0x000001a0            /* MISC_ENABLE */
    .long 0x00000277            /* PAT */
    .long 0x00000345            /* PERF_CAPABILITIES */
    .long 0x00000480, 0x00000481, 0x00000482, 0x00000483, 0x00000484
    .long 0x00000485, 0x00000486, 0x00000487, 0x00000488, 0x00000489
    .long 0x0000048a, 0x0000048b, 0x0000048c, 0x0000048d, 0x0000048e
    .long 0x0000048f, 0x00000490, 0x00000491   /* VMX capabilities */
    .long 0x00000da0            /* XSS */
    .long 0xc0000080            /* EFER */
    .long 0xc0000103            /* TSC_AUX */
    .long 0x4b564d00, 0x4b564d01 /* KVM wall/system clock */
    .long 0

    .org 0x1000
RESULTS:
    .fill 0x10, 1, 0
cpuid_out:
    .fill 0x4000 - 0x10, 1, 0
msr_out:
    .fill 0x1000, 1, 0
idt:
    .fill 256 * 16, 1, 0
    .fill 0x400, 1, 0
stack_top:

    /* Identity map of the first GiB: PML4 -> PDPT -> 512 2-MiB pages. */
    .balign 0x1000
pml4:
    .quad pdpt + PTE_PRESENT_RW
    .fill 511, 8, 0
pdpt:
    .quad pd + PTE_PRESENT_RW
    .fill 511, 8, 0
pd:
    .set page, 0
    .rept 512
    .quad (page << 21) | PDE_2M
    .set page, page + 1
    .endr
