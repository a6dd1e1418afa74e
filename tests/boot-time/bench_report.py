# SPDX-License-Identifier: GPL-2.0-or-later
"""Summaries, the Markdown tables, the charts (boot time, memory by
category), baseline ratios, validation."""

import json
import os
import statistics

from pclite import memory
from pclite import trace

PHASES = trace.BOOT_PHASES
STACKED = ('vmm_init', 'firmware', 'kernel', 'userspace')
COLOURS = ('#4e79a7', '#f28e2b', '#59a14f', '#e15759')


def stats(values):
    """min, median, max and count of the values that are not None."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {'min': min(values), 'median': statistics.median(values),
            'max': max(values), 'n': len(values)}


def summarise(runs):
    """Statistics of each phase (and peak RSS) over the good runs."""
    good = [r for r in runs if 'error' not in r]
    out = {p: stats([r['phases'][p] for r in good]) for p in PHASES}
    # Exec to init's first marker: the machine, firmware and kernel.
    out['to_init'] = stats([round(r['phases']['total'] -
                                  r['phases']['userspace'], 3)
                            for r in good])
    out['peak_rss_kb'] = stats([r.get('peak_rss_kb') for r in good])
    out['guest_uptime_ms'] = stats(
        [(r.get('report') or {}).get('uptime_ms') for r in good])
    return out


def _ms(st, key='median'):
    return '-' if not st else f'{st[key]:.1f}'


def _cell(st):
    if not st:
        return '-'
    return f'{st["median"]:.1f} ({st["min"]:.1f}-{st["max"]:.1f})'


def _mib(kb):
    return '-' if kb is None else f'{kb / 1024:.1f}'


def find(data, name):
    """The configuration entry called name, or None."""
    for c in data['configs']:
        if c['name'] == name:
            return c
    return None


def ratios(data):
    """pc-lite PVH against microvm (qboot) and q35 (SeaBIOS), per size."""
    out = []
    for size in sorted({c['size'] for c in data['configs']}):
        lite = find(data, f'pc-lite-pvh/{size}')
        for other in ('microvm-qboot', 'microvm-seabios', 'q35-seabios'):
            o = find(data, f'{other}/{size}')
            if not lite or not o:
                continue
            row = {'pair': f'pc-lite-pvh / {other}', 'size': size}
            for key, summ in (('total', 'summary'),
                              ('vmm_init', 'summary')):
                a = (lite.get(summ) or {}).get(key)
                b = (o.get(summ) or {}).get(key)
                row[key] = round(a['median'] / b['median'], 3) \
                    if a and b and b['median'] else None
            a = (lite.get('kvm_vmm_init') or {}).get('summary')
            b = (o.get('kvm_vmm_init') or {}).get('summary')
            row['kvm_vmm_init'] = round(a['median'] / b['median'], 3) \
                if a and b and b['median'] else None
            out.append(row)
    return out


def _median(entry, key):
    st = (entry.get('summary') or {}).get(key) \
        if entry.get('status') == 'ok' else None
    return st['median'] if st else None


def init_ratios(data, target):
    """Exec to init, pc-lite / microvm with qboot from the same source,
    for each kernel and format both booted (medians): rows with the
    target and whether it is met (None: not measured)."""
    rows = []
    for c in data['configs']:
        if c['machine'] != 'pc-lite' or c['root'] != 'initramfs':
            continue
        for o in data['configs']:
            if not (o['machine'].startswith('microvm') and
                    o['firmware'] == 'qboot' and
                    o.get('package', '') == c.get('package', '') and
                    o['kernel'] == c['kernel'] and o['size'] == c['size']):
                continue
            a, b = _median(c, 'to_init'), _median(o, 'to_init')
            ratio = round(a / b, 3) if a is not None and b else None
            rows.append({
                'kernel': c.get('kernel_label', ''), 'size': c['size'],
                'pair': f'{c.get("setup", c["label"])} / '
                        f'{o.get("setup", o["label"])}',
                'lite': c['name'], 'microvm': o['name'],
                'lite_ms': a, 'microvm_ms': b, 'ratio': ratio,
                'target': target,
                'met': None if ratio is None else ratio <= target,
                'not_measured': '; '.join(
                    f'{e["name"]} {e["status"]}' for e in (c, o)
                    if e['status'] != 'ok'),
            })
    return rows


def init_ratio_markdown(rows):
    """The init_ratios rows as a Markdown table."""
    if not rows:
        return []
    target = rows[0]['target']
    lines = ['', f'To init (exec to init\'s first marker), pc-lite / '
             f'microvm with qboot from the same source, per kernel '
             f'(medians; target: at most {target:g}x):', '',
             '| kernel | pair | size | pc-lite ms | microvm ms | ratio | '
             f'at most {target:g}x |', '|---|---|---|---:|---:|---:|---|']
    for r in rows:
        met = ('met' if r['met'] else 'not met') if r['met'] is not None \
            else f'not measured ({r["not_measured"]})'
        lines.append(
            f'| {r["kernel"]} | {r["pair"]} | {r["size"]} | '
            f'{_num(r["lite_ms"])} | {_num(r["microvm_ms"])} | '
            f'{_ratio(r["ratio"])} | {met} |')
    return lines


def _num(v, fmt='.1f'):
    return '-' if v is None else format(v, fmt)


def breakdown_markdown(data):
    """Where the kernel's time goes: per kernel, a table of the kernel
    breakdowns (bench_run.kernel_breakdown) side by side, pc-lite beside
    microvm: the phase, its part before the kernel's clock, the initcalls'
    count and sum, and the top initcalls of each (ms)."""
    groups = {}
    failed = []
    for c in data['configs']:
        b = c.get('kernel_breakdown')
        if not b:
            continue
        if 'error' in b:
            failed.append(f'- {c["label"]}: {b["error"]}')
            continue
        groups.setdefault(c.get('kernel_label', ''), []).append(c)
    lines = []
    for kernel, configs in groups.items():
        bds = [c['kernel_breakdown'] for c in configs]
        names = {}
        for b in bds:
            for t in b['top']:
                names[t['initcall']] = max(names.get(t['initcall'], 0),
                                           t['ms'])
        lines += ['', f'Where the kernel\'s time goes: {kernel}, '
                  f'{configs[0]["size"]}. One more boot of each with '
                  f'`{bds[0]["append"]}` (not a timed boot: its console '
                  'output slows it); ms, the top initcalls of each:', '',
                  '| | ' + ' | '.join(c['setup'] for c in configs) + ' |',
                  '|---|' + '---:|' * len(configs)]
        rows = (('kernel phase (host clock)', 'kernel_ms'),
                ('before the kernel\'s clock (decompression, early setup)',
                 'before_clock_ms'),
                ('kernel\'s clock at "Run /init"', 'kernel_clock_at_init_ms'),
                ('initcalls, sum', 'initcalls_ms'))
        for label, key in rows:
            lines.append(f'| {label} | ' + ' | '.join(
                _num(b.get(key)) for b in bds) + ' |')
        lines.append('| initcalls, count | ' + ' | '.join(
            str(b['initcalls']) for b in bds) + ' |')
        for fn in sorted(names, key=lambda n: -names[n]):
            lines.append(f'| `{fn}` | ' + ' | '.join(
                _num(b['all_ms'].get(fn)) if fn in b['all_ms'] else '<0.1'
                for b in bds) + ' |')
    if failed:
        lines += ['', 'No kernel breakdown:', ''] + failed
    return lines


def markdown(data):
    """The result as Markdown tables."""
    h = data['host']
    lines = [
        f'Boot time in ms, median (min-max) of {data["runs"]} boots after '
        f'{data["warmup"]} warm-up; accelerator **{data["accel"]}**; '
        f'host {h["cpu_model"]}, {h["cpus"]} CPUs, Linux {h["kernel"]}; '
        f'pc-lite {h["git_rev"]}; `{data["command"]}`.',
        '',
        '| configuration | ' + ' | '.join(trace.LABELS[p] for p in PHASES) +
        ' | peak RSS MiB |',
        '|---|' + '---:|' * (len(PHASES) + 1),
    ]
    for c in data['configs']:
        s = c.get('summary') or {}
        if c['status'] != 'ok':
            lines.append(f'| {c["label"]} | {c["status"]}: '
                         f'{c.get("error", "")} |' + ' |' * len(PHASES))
            continue
        rss = s.get('peak_rss_kb')
        lines.append(f'| {c["label"]} | ' +
                     ' | '.join(_cell(s.get(p)) for p in PHASES) +
                     f' | {_mib(rss["median"] if rss else None)} |')
    lines += [
        '',
        'Memory of an idle booted guest (MiB; USS/PSS from smaps_rollup, '
        'guest RAM = resident pages of the guest-RAM mappings), KVM VMM init '
        '(ms, median (min-max)), boots that failed:',
        '',
        '| configuration | VMM USS | VMM PSS | guest RAM touched | '
        'total PSS | peak RSS | KVM VMM init | failed boots |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for c in data['configs']:
        m = c.get('memory') or {}
        k = c.get('kvm_vmm_init') or {}
        kvm = _cell(k.get('summary')) if k.get('summary') else \
            (k.get('error', '-') if k else '-')
        fails = c.get('failed_boots', 0)
        lines.append(
            f'| {c["label"]} | {_mib(m.get("vmm_uss_kb"))} | '
            f'{_mib(m.get("vmm_pss_kb"))} | '
            f'{_mib(m.get("guest_ram_rss_kb"))} | {_mib(m.get("pss_kb"))} | '
            f'{_mib(m.get("peak_rss_kb"))} | {kvm} | '
            f'{fails}/{fails + len(c.get("runs", []))} |')
    failures = [c for c in data['configs'] if c.get('failed_boots')]
    if failures:
        lines += ['', 'Failed boots (retried; their runs are not in the '
                  'figures):', '']
        for c in failures:
            counts = {}
            for e in c['errors']:
                counts[e] = counts.get(e, 0) + 1
            attempts = c['failed_boots'] + len(c['runs'])
            lines.append(f'- {c["label"]}: {c["failed_boots"]} of '
                         f'{attempts}: ' + '; '.join(
                             f'{n}x {e}' for e, n in counts.items()))
    rat = data.get('ratios') or []
    if rat:
        lines += ['', 'Ratios of medians (pc-lite PVH / other; below 1: '
                  'pc-lite is faster):', '',
                  '| pair | size | total | VMM init | KVM VMM init |',
                  '|---|---|---:|---:|---:|']
        for r in rat:
            lines.append(f'| {r["pair"]} | {r["size"]} | '
                         f'{_ratio(r["total"])} | {_ratio(r["vmm_init"])} | '
                         f'{_ratio(r["kvm_vmm_init"])} |')
    lines += init_ratio_markdown(data.get('init_ratios') or [])
    lines += breakdown_markdown(data)
    lines += ['', trace.legend() + " All host wall clock from QEMU's "
              "trace; the guest's own clock only appears as guest_uptime_ms "
              'in the JSON.', '']
    return '\n'.join(lines)


def _ratio(v):
    return '-' if v is None else f'{v:.2f}'


def chart(data, base):
    """Stacked bars of the median phases per configuration (png + svg)."""
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    configs = [c for c in data['configs'] if c['status'] == 'ok']
    kvm = [c for c in data['configs']
           if (c.get('kvm_vmm_init') or {}).get('summary')]
    panels = 2 if kvm and data['accel'] != 'kvm' else 1
    height = 1.2 + 0.38 * max(len(configs), 1)
    if panels == 2:
        height += 1.2 + 0.3 * len(kvm)
    ratios = [max(len(configs), 1), max(len(kvm), 1)][:panels]
    fig, axes = plt.subplots(panels, 1, figsize=(10, height), squeeze=False,
                             gridspec_kw={'height_ratios': ratios})
    ax = axes[0][0]
    labels = [c['label'] for c in configs][::-1]
    left = [0.0] * len(labels)
    for phase, colour in zip(STACKED, COLOURS):
        vals = [c['summary'][phase]['median'] for c in configs][::-1]
        ax.barh(labels, vals, left=left, color=colour,
                label=trace.LABELS[phase])
        left = [a + b for a, b in zip(left, vals)]
    for y, total in enumerate(left):
        ax.text(total, y, f' {total:.0f} ms', va='center', fontsize=8)
    ax.set_xlim(0, max(left + [1]) * 1.15)
    ax.set_xlabel('ms, host clock, median of '
                  f'{data["runs"]} boots (accelerator {data["accel"]})')
    ax.set_title('Boot time to the guest\'s "ready" marker', pad=22)
    ax.legend(loc='lower center', bbox_to_anchor=(0.5, 1.0), ncol=4,
              fontsize=8, frameon=False)
    ax.tick_params(axis='y', labelsize=8)
    if panels == 2:
        ax2 = axes[1][0]
        labels = [c['label'] for c in kvm][::-1]
        vals = [c['kvm_vmm_init']['summary']['median'] for c in kvm][::-1]
        ax2.barh(labels, vals, color=COLOURS[0])
        for y, v in enumerate(vals):
            ax2.text(v, y, f' {v:.1f} ms', va='center', fontsize=8)
        ax2.set_xlim(0, max(vals + [1]) * 1.2)
        ax2.set_xlabel('ms, exec to first guest instruction under KVM '
                       '(nested; the guest is stopped there)')
        ax2.set_title('VMM init under KVM')
        ax2.tick_params(axis='y', labelsize=8)
    fig.tight_layout()
    fig.savefig(base + '.png', dpi=90)
    fig.savefig(base + '.svg')
    plt.close(fig)


def compare(data, baseline):
    """Each phase's median ratio current/baseline, per common config."""
    rows = []
    for c in data['configs']:
        b = find(baseline, c['name'])
        if not b or c['status'] != 'ok' or b.get('status') != 'ok':
            continue
        row = {'name': c['name']}
        for p in PHASES:
            cur, old = c['summary'].get(p), b['summary'].get(p)
            row[p] = round(cur['median'] / old['median'], 3) \
                if cur and old and old['median'] else None
        rows.append(row)
    return rows


def compare_text(rows, baseline_path):
    """The baseline ratios as a plain-text table."""
    out = [f'ratio to baseline {baseline_path} (current / baseline median):',
           f'  {"configuration":34s}' +
           ''.join(f'{trace.LABELS[p]:>11s}' for p in PHASES)]
    for r in rows:
        out.append(f'  {r["name"]:34s}' + ''.join(
            f'{"-" if r[p] is None else format(r[p], ".3f"):>11s}'
            for p in PHASES))
    return '\n'.join(out)


def validate(data, base):
    """Problems with the written outputs (empty list: all fine)."""
    problems = []
    try:
        with open(base + '.json', encoding='utf-8') as f:
            stored = json.load(f)
    except (OSError, ValueError) as e:
        return [f'{base}.json: {e}']
    if stored.get('schema') != data['schema']:
        problems.append('JSON schema mismatch')
    for c in stored['configs']:
        if c['status'] != 'ok':
            continue
        s = c['summary']
        for p in PHASES:
            st = s.get(p)
            if not st or not st['min'] <= st['median'] <= st['max']:
                problems.append(f'{c["name"]}: bad {p} summary {st}')
            elif st['min'] < 0:
                problems.append(f'{c["name"]}: negative {p}')
        for r in c['runs']:
            ph = r['phases']
            parts = sum(ph[p] for p in STACKED)
            if abs(parts - ph['total']) > 0.01:
                problems.append(f'{c["name"]}: phases add up to {parts}, '
                                f'total is {ph["total"]}')
        if c['firmware'] == 'none' and s['firmware']['max'] != 0:
            problems.append(f'{c["name"]}: firmware phase without firmware')
    try:
        with open(base + '.md', encoding='utf-8') as f:
            md = f.read()
        for c in stored['configs']:
            if f'| {c["label"]} |' not in md:
                problems.append(f'{base}.md lacks {c["label"]}')
    except OSError as e:
        problems.append(str(e))
    for ext, magic in (('.png', b'\x89PNG\r\n\x1a\n'), ('.svg', b'<?xml')):
        try:
            with open(base + ext, 'rb') as f:
                head = f.read(8)
            if not head.startswith(magic[:len(head)]) or \
                    os.path.getsize(base + ext) < 1000:
                problems.append(f'{base}{ext} is not a valid chart')
        except OSError as e:
            problems.append(str(e))
    return problems


def save(out, name, data, md, chart_fn):
    """Write a benchmark's results into the folder out: NAME.json (data),
    NAME.md (md, also printed) and NAME.png (chart_fn(data, path))."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f'{name}.json'), 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(out, f'{name}.md'), 'w', encoding='utf-8') as f:
        f.write(md)
    chart_fn(data, os.path.join(out, f'{name}.png'))
    print(md)


def save_figure(fig, path, **kwargs):
    """Lay out a matplotlib figure, write it to path and close it."""
    # pylint: disable=import-outside-toplevel
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, **kwargs)
    plt.close(fig)


def memory_breakdowns(data):
    """{configuration name: pclite.memory breakdown} of the idle guests
    measured (the contents of memory.json)."""
    return {c['name']: c['memory']['breakdown'] for c in data['configs']
            if 'breakdown' in (c.get('memory') or {})}


def memory_markdown(breakdowns, accel):
    """The memory breakdowns as two Markdown tables, MiB of private pages
    (shares of the USS) and of PSS, per category."""
    cats = list(memory.CATEGORIES)
    head = ['| configuration | ' + ' | '.join(memory.CATEGORIES.values()),
            '|---|' + '---:|' * len(cats)]
    lines = [f'Memory of an idle guest by category, accelerator {accel} '
             f'(`python3 -m pclite.memory PID`).', '',
             'Private pages (MiB; each a share of the USS; own = USS - '
             'guest RAM - TCG buffer; binary copies: the binary\'s pages '
             'that are this process\'s copies, private whatever else runs):',
             '', head[0] + ' | USS | own | binary copies |',
             head[1] + '---:|---:|---:|']
    for name, bd in breakdowns.items():
        keys = cats + ['uss_kib', 'own_kib', 'binary_cow_kib']
        lines.append(f'| {name} | ' +
                     ' | '.join(_mib(bd.get(k)) for k in keys) + ' |')
    lines += ['', 'PSS (MiB; pages shared with other processes, such as '
              'another QEMU of the same binary, count in part):', '',
              head[0] + ' | PSS |', head[1] + '---:|']
    for name, bd in breakdowns.items():
        lines.append(f'| {name} | ' + ' | '.join(
            _mib(bd['pss'][k]) for k in cats) + f' | {_mib(bd["pss_kib"])} |')
    return '\n'.join(lines) + '\n'


def memory_chart(breakdowns, path):
    """Stacked bars of each configuration's private memory by category."""
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(breakdowns)[::-1]
    fig, ax = plt.subplots(figsize=(10, 1.6 + 0.38 * len(names)))
    left = [0.0] * len(names)
    for i, (key, label) in enumerate(memory.CATEGORIES.items()):
        vals = [breakdowns[n][key] / 1024 for n in names]
        ax.barh(names, vals, left=left, label=label,
                color=plt.get_cmap('tab10')(i))
        left = [a + b for a, b in zip(left, vals)]
    for y, name in enumerate(names):
        ax.text(left[y], y, f' USS {left[y]:.1f}, own '
                f'{breakdowns[name]["own_kib"] / 1024:.1f} MiB',
                va='center', fontsize=8)
    ax.set_xlim(0, max(left + [1]) * 1.3)
    ax.set_xlabel('MiB of private pages (USS) of an idle QEMU')
    ax.set_title('Memory of an idle guest by category', pad=34)
    ax.legend(loc='lower center', bbox_to_anchor=(0.5, 1.0), ncol=4,
              fontsize=8, frameon=False)
    ax.tick_params(axis='y', labelsize=8)
    save_figure(fig, path, dpi=90)
