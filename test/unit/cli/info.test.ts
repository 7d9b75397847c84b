import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { mig, MIG } from '../../helpers/cli.js';
import { page, saveImage, StreamBuilder, vmcoreinfoDevice, vmcoreinfoNote } from '../../helpers/stream-writer.js';
import { tmpFile } from '../../helpers/tmp.js';

const VMCI = 'OSRELEASE=6.1.0-99-amd64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff82a0c000\n';

function image(): Buffer {
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 8 * 4096 }, { idstr: 'pc.bios', length: 4096 }]);
  const v = Buffer.alloc(4096);
  v.write(VMCI);
  s.ramSection(3, [
    { block: 'pc.ram', offset: 0, data: page(1) },
    { block: 'pc.ram', offset: 4096, data: v },
    { block: 'pc.ram', offset: 8192 },
    { block: 'pc.bios', offset: 0, data: page(2) },
  ]);
  return saveImage(s.eof().build());
}

test('info --json on a save image', (t) => {
  const r = mig('info', '--json', tmpFile(image()));
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(j.format, 'libvirt-save');
  t.is(j.ramBytes, 8 * 4096);
  t.deepEqual(j.pages, { total: 8, zero: 6, nonZero: 2 });
  t.deepEqual(j.vmcoreinfo, { present: true, source: 'memory-scan', osRelease: '6.1.0-99-amd64', pageSize: 4096 });
  t.is(j.libvirt.domain, 'fixture');
  t.deepEqual(j.ramBlocks.map((b: { name: string; main: boolean }) => [b.name, b.main]), [['pc.ram', true], ['pc.bios', false]]);
});

test('info finds VMCOREINFO that only the vmcoreinfo device note carries (as introspection does)', (t) => {
  // The note sits 0x100 into pc.ram page 5, so no page starts with it: a page scan cannot see it;
  // only the vmcoreinfo device section (fw_cfg etc/vmcoreinfo) says where it is.
  const gpa = 5 * 4096 + 0x100;
  const p5 = Buffer.alloc(4096, 0x11);
  vmcoreinfoNote(VMCI).copy(p5, 0x100);
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 8 * 4096 }]);
  s.ramSection(3, [{ block: 'pc.ram', offset: 0, data: page(1) }, { block: 'pc.ram', offset: 5 * 4096, data: p5 }]);
  const dev = vmcoreinfoDevice(gpa);
  s.device('vmcoreinfo', dev.body);
  s.eof(JSON.stringify({ page_size: 4096, devices: [dev.device] }));
  const path = tmpFile(saveImage(s.build()));
  const r = mig('info', '--json', path);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.deepEqual(j.vmcoreinfo, { present: true, source: 'device-note', osRelease: '6.1.0-99-amd64', pageSize: 4096 });
  t.deepEqual(j.paging, { mode: 'x86-64 4-level', source: 'vmcoreinfo' });
  t.deepEqual(j.pages, { total: 8, zero: 6, nonZero: 2 });
  const text = mig('info', path);
  t.is(text.status, 0, text.stderr);
  t.regex(text.stdout, /VMCOREINFO\s+yes \(device-note\), OS release 6\.1\.0-99-amd64/);
});

test('info text output names the format and kernel', (t) => {
  const r = mig('info', tmpFile(image()));
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /format\s+libvirt-save/);
  t.regex(r.stdout, /OS release 6\.1\.0-99-amd64/);
});

test('corrupt image: exit 3, the file and offset named on stderr, JSON error with --json', (t) => {
  const buf = image();
  buf.writeUInt32LE(buf.length, 20); // data_len past EOF (under the 256 MiB bound)
  const path = tmpFile(buf);
  const r = mig('info', path);
  t.is(r.status, 3);
  t.is(r.stdout, '');
  t.regex(r.stderr, new RegExp(`^mig: ${path}: offset 20 \\(0x14\\), libvirt header data_len`));
  const j = mig('info', '--json', path);
  t.is(j.status, 3);
  t.like(JSON.parse(j.stdout), { code: 'IMAGE_TRUNCATED', file: path, offset: 20, field: 'libvirt header data_len' });
});

test('usage errors exit 2', (t) => {
  t.is(mig('info', '/nonexistent/image').status, 2);
  t.is(mig('info', '--format', 'vmdk', tmpFile(image())).status, 2);
  t.is(mig('info').status, 2);
  t.is(mig('frobnicate').status, 2);
});

test('--help lists info', (t) => {
  const r = mig('--help');
  t.is(r.status, 0);
  t.regex(r.stdout, /info \[options\] <image>/);
});

test('a reader closing the pipe early is not an error', (t) => {
  const path = tmpFile(image());
  const r = spawnSync('sh', ['-c', `"${process.execPath}" "${MIG}" info "${path}" | head -c 1 >/dev/null; echo "status=\${PIPESTATUS:-x}"`], { encoding: 'utf8' });
  t.notRegex(r.stderr, /EPIPE|Unhandled/);
});

test('encode/decode CLI: round trip, JSON summary, corrupt .mig exits 3 without output', (t) => {
  const src = tmpFile(image(), 'cli.img');
  const out = tmpFile(Buffer.alloc(0), 'cli.mig');
  const e = mig('encode', src, '-o', out, '--json');
  t.is(e.status, 0, e.stderr);
  const s = JSON.parse(e.stdout);
  t.is(s.format, 'libvirt-save');
  t.is(s.outputBytes, fs.statSync(out).size);
  const back = `${out}.img`;
  const d = mig('decode', out, '-o', back);
  t.is(d.status, 0, d.stderr);
  t.true(fs.readFileSync(back).equals(fs.readFileSync(src)));
  const bad = fs.readFileSync(out);
  bad[bad.length - 40] ^= 1; // inside the END frame's SHA-256
  fs.writeFileSync(out, bad);
  const back2 = `${out}.2.img`;
  const f = mig('decode', out, '-o', back2);
  t.is(f.status, 3);
  t.regex(f.stderr, /checksum mismatch/);
  t.false(fs.existsSync(back2));
  t.is(mig('encode', src, '-o', `${out}.x`, '--codec', 'lz4').status, 2);
});

test('encode and decode in a pipe: mig encode IMG -o - | mig decode - -o OUT', (t) => {
  const src = tmpFile(image(), 'pipe.img');
  const out = `${src}.out`;
  const r = spawnSync('sh', ['-c', `"${process.execPath}" "${MIG}" encode "${src}" -o - | "${process.execPath}" "${MIG}" decode - -o "${out}"`], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.true(fs.readFileSync(out).equals(fs.readFileSync(src)));
  // A truncated stream on stdin is refused, naming <stdin>, with no output.
  const cut = `${src}.cut`;
  const r2 = spawnSync('sh', ['-c', `"${process.execPath}" "${MIG}" encode "${src}" -o - | head -c 300 | "${process.execPath}" "${MIG}" decode - -o "${cut}"`], { encoding: 'utf8' });
  t.not(r2.status, 0);
  t.regex(r2.stderr, /<stdin>: offset \d+: .*(truncated|runs past the end)/);
  t.false(fs.existsSync(cut));
});

test('decode to stdout: mig encode IMG -o - | mig decode - -o - gives the image, with duplicates read back from the spool', (t) => {
  // pc.bios equals the first guest page: a DUP the decoder resolves by reading back its own output.
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 2 * 4096 }, { idstr: 'pc.bios', length: 4096 }]);
  s.ramSection(3, [{ block: 'pc.ram', offset: 0, data: page(1) }, { block: 'pc.ram', offset: 4096, data: page(3) }, { block: 'pc.bios', offset: 0, data: page(1) }]);
  const src = tmpFile(saveImage(s.eof().build()), 'stdout.img');
  const probe = spawnSync(process.execPath, [MIG, 'encode', src, '-o', `${src}.mig`, '--json'], { encoding: 'utf8' });
  t.is((JSON.parse(probe.stdout) as { techniques: { duplicate: { pages: number } } }).techniques.duplicate.pages, 1);
  const out = `${src}.out`;
  const r = spawnSync('sh', ['-c', `set -e; "${process.execPath}" "${MIG}" encode "${src}" -o - | "${process.execPath}" "${MIG}" decode - -o - > "${out}"`], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.true(fs.readFileSync(out).equals(fs.readFileSync(src)));
  const summary = JSON.parse(r.stderr.trim().split('\n').pop()!) as { output: string; imageBytes: number };
  t.is(summary.output, '-');
  t.is(summary.imageBytes, fs.statSync(src).size);
  // A damaged stream: non-zero exit status (what was already written to the pipe cannot be taken back).
  const enc = spawnSync(process.execPath, [MIG, 'encode', src, '-o', '-']);
  const bad = Buffer.from(enc.stdout);
  bad[bad.length - 20] ^= 1; // inside the END frame's SHA-256
  const r2 = spawnSync(process.execPath, [MIG, 'decode', '-', '-o', '-'], { input: bad });
  t.is(r2.status, 3, r2.stderr.toString());
  t.regex(r2.stderr.toString(), /checksum mismatch|SHA-256/);
});

test('encode from stdin: cat IMG | mig encode - -o X.mig decodes to the image; the spool is removed', (t) => {
  const src = tmpFile(image(), 'stdin.img');
  const out = `${src}.mig`;
  const before = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('mig-encode-')).length;
  const r = spawnSync('sh', ['-c', `cat "${src}" | "${process.execPath}" "${MIG}" encode - -o "${out}" --json`], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as { image: string }).image, '-');
  t.is(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('mig-encode-')).length, before);
  const back = `${src}.back`;
  t.is(spawnSync(process.execPath, [MIG, 'decode', out, '-o', back]).status, 0);
  t.true(fs.readFileSync(back).equals(fs.readFileSync(src)));
  // Not an image on stdin: a clear error, exit 3, no output.
  const bad = spawnSync(process.execPath, [MIG, 'encode', '-', '-o', `${out}.bad`], { input: Buffer.from('not an image at all') });
  t.is(bad.status, 3, bad.stderr.toString());
  t.regex(bad.stderr.toString(), /<stdin>/);
  t.false(fs.existsSync(`${out}.bad`));
});
