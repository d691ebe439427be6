(function () {
  'use strict';

  // Application status names in Indonesian, from chalicelib/statuses.py (injected when the page is built).
  const STATUS_LABELS = /*STATUS_LABELS*/;
  const KEY_STORE = 'julo.partnerPortal.apiKey';
  const PAGE_MAX = 500;              // the report route's largest page
  const DOWNLOAD_MAX_ROWS = 100000;  // above this, ask for a narrower filter
  const MAX_RATE_LIMIT_RETRIES = 8;
  const WIB_OFFSET_MS = 7 * 3600 * 1000;
  const XLSX_MIME = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
  // the JSON routes are siblings of this page: .../v1/partner/{summary,report}, whatever the stage prefix
  const BASE = new URL('.', window.location.href.split(/[?#]/)[0]);

  const FIGURES = [
    ['loan_count', 'Jumlah pinjaman', 'count'],
    ['disbursement', 'Total pencairan', 'money'],
    ['outstanding', 'Sisa pokok (outstanding)', 'money'],
    ['repayment', 'Total pengembalian', 'money'],
    ['principal', 'Pokok diterima', 'money'],
    ['interest', 'Bunga diterima', 'money'],
    ['late_fee', 'Denda diterima', 'money'],
    ['fee', 'Biaya platform', 'money'],
    ['net_profit', 'Keuntungan bersih', 'money'],
  ];
  // the downloads: every column of the report, labelled as on screen
  const EXPORT_COLUMNS = [
    ['ID', (r) => r.application_xid, 'int', 14],
    ['Nama', (r) => r.fullname, 'text', 18],
    ['Email', (r) => r.email, 'text', 24],
    ['Tanggal (WIB)', (r) => wib(r.cdate), 'text', 20],
    ['Tujuan Pinjaman', (r) => r.loan_purpose, 'text', 22],
    ['Skor', (r) => r.credit_grade, 'text', 7],
    ['Jumlah Pinjaman', (r) => r.loan_amount, 'money', 17],
    ['Tenor (bulan)', (r) => r.loan_duration, 'int', 8],
    ['Status Pengajuan', (r) => statusLabel(r), 'text', 22],
    ['Kode Status', (r) => r.status_code, 'int', 8],
    ['Pencairan', (r) => r.disbursement, 'money', 17],
    ['Outstanding', (r) => r.outstanding, 'money', 17],
    ['Pengembalian', (r) => r.repayment, 'money', 17],
    ['Pokok', (r) => r.principal, 'money', 17],
    ['Bunga', (r) => r.interest, 'money', 15],
    ['Denda', (r) => r.late_fee, 'money', 15],
    ['Biaya Platform', (r) => r.fee, 'money', 15],
    ['Keuntungan Bersih', (r) => r.net_profit, 'money', 17],
  ];

  const $ = (id) => document.getElementById(id);
  // `session` changes on every sign-out: an answer that arrives after it is dropped, not shown
  const state = { key: null, partnerId: null, filters: null, cursors: [null], page: 0, next: null, busy: false,
    session: 0 };

  // ---- formatting ------------------------------------------------------------------------------
  function groups(n) {
    return Math.abs(Math.trunc(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  }
  function rupiah(n) {
    if (n === null || n === undefined) return '–';
    return (n < 0 ? '-' : '') + 'Rp ' + groups(n);
  }
  function wib(iso) {
    const shifted = new Date(new Date(iso).getTime() + WIB_OFFSET_MS);
    return shifted.toISOString().slice(0, 19).replace('T', ' ');
  }
  function statusLabel(row) {
    return STATUS_LABELS[String(row.status_code)] || row.status;
  }
  function today() {
    return wib(new Date().toISOString()).slice(0, 10);
  }

  // ---- messages --------------------------------------------------------------------------------
  function showMessage(text, kind) {
    const box = $('message');
    box.textContent = text;
    box.className = 'message ' + (kind || 'error');
    box.hidden = !text;
  }
  function clearMessage() {
    showMessage('', 'error');
  }

  class PortalError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function explain(status, code, detail) {
    if (code === 'key_expired') {
      return 'Kunci API Anda sudah kedaluwarsa. Minta kunci baru kepada tim JULO, lalu masuk kembali.';
    }
    if (status === 401) return 'Kunci API tidak dikenali atau sudah dicabut. Periksa kembali kunci Anda.';
    if (status === 403) return 'Kunci ini bukan kunci mitra. Portal ini hanya menerima kunci API mitra.';
    if (status === 429) return 'Terlalu banyak permintaan dalam waktu singkat. Coba lagi dalam beberapa detik.';
    if (status === 400) return 'Filter tidak valid: ' + (detail || 'periksa kembali isian filter.');
    if (status === 0) return 'Layanan tidak dapat dihubungi. Periksa koneksi Anda, lalu coba lagi.';
    return 'Layanan sedang tidak tersedia (' + status + '). Coba lagi nanti.';
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- the JSON routes -------------------------------------------------------------------------
  async function api(path, params, key) {
    const url = new URL(path, BASE);
    Object.entries(params || {}).forEach(([name, value]) => {
      if (value !== '' && value !== null && value !== undefined) url.searchParams.set(name, String(value));
    });
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await fetch(url, {
          headers: { 'x-api-key': key || state.key, Accept: 'application/json' },
          cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
        });
      } catch (err) {
        throw new PortalError(0, 'network', explain(0));
      }
      if (response.status === 429 && attempt < MAX_RATE_LIMIT_RETRIES) {
        const wait = Math.max(1, Number(response.headers.get('Retry-After')) || 1);
        showMessage('Batas permintaan tercapai; melanjutkan dalam ' + wait + ' detik…', 'info');
        await sleep(wait * 1000);
        clearMessage();
        continue;
      }
      let body = null;
      try {
        body = await response.json();
      } catch (err) {
        body = null;
      }
      if (response.ok) return body;
      const error = (body && body.error) || {};
      throw new PortalError(response.status, error.code || '', explain(response.status, error.code, error.message));
    }
  }

  function handleError(err) {
    if (!(err instanceof PortalError)) {
      showMessage(explain(-1));
      return;
    }
    if (err.status === 401 || err.status === 403) {
      signOut();
    }
    showMessage(err.message);
  }

  // ---- key entry -------------------------------------------------------------------------------
  function signOut() {
    state.session += 1;
    sessionStorage.removeItem(KEY_STORE);
    state.key = null;
    state.partnerId = null;
    $('app').hidden = true;
    $('session').hidden = true;
    $('login').hidden = false;
    $('api-key').value = '';
    $('report-body').textContent = '';
    $('summary-cards').textContent = '';
  }

  async function signIn(key) {
    const session = state.session;
    const summary = await api('summary', {}, key);
    if (session !== state.session) return;  // signed out meanwhile
    state.key = key;
    sessionStorage.setItem(KEY_STORE, key);
    $('login').hidden = true;
    $('app').hidden = false;
    $('session').hidden = false;
    renderSummary(summary);
    resetFilters();
    await loadPage();
  }

  // ---- summary ---------------------------------------------------------------------------------
  function renderSummary(summary) {
    state.partnerId = summary.partner_id;
    $('partner-label').textContent = 'Mitra #' + summary.partner_id;
    $('as-of').textContent = 'Data per ' + wib(summary.as_of).slice(0, 16) + ' WIB';
    const cards = $('summary-cards');
    cards.textContent = '';
    FIGURES.forEach(([name, label, kind]) => {
      const card = document.createElement('div');
      card.className = 'figure' + (name === 'net_profit' ? ' highlight' : '');
      card.dataset.figure = name;
      const title = document.createElement('span');
      title.className = 'label';
      title.textContent = label;
      const value = document.createElement('span');
      value.className = 'value';
      value.textContent = kind === 'money' ? rupiah(summary[name]) : groups(summary[name]);
      card.append(title, value);
      cards.append(card);
    });
  }

  // ---- report ----------------------------------------------------------------------------------
  function readFilters() {
    return {
      from: $('from').value, to: $('to').value, status: $('status').value,
      order: $('order').value, limit: Number($('limit').value),
    };
  }

  function resetFilters() {
    $('from').value = '';
    $('to').value = '';
    $('status').value = '';
    $('order').value = 'newest';
    $('limit').value = '50';
    state.filters = readFilters();
    state.cursors = [null];
    state.page = 0;
  }

  function reportParams(filters, cursor, limit) {
    return {
      from: filters.from, to: filters.to, status: filters.status, order: filters.order,
      limit: limit || filters.limit, cursor: cursor,
    };
  }

  async function loadPage() {
    const session = state.session;
    setBusy(true);
    try {
      const body = await api('report', reportParams(state.filters, state.cursors[state.page]));
      if (session !== state.session) return;
      state.next = body.next_cursor;
      renderRows(body.rows);
    } catch (err) {
      handleError(err);
    } finally {
      setBusy(false);
    }
  }

  function cell(text, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    td.textContent = text === null || text === undefined ? '–' : String(text);
    return td;
  }

  function renderRows(rows) {
    const body = $('report-body');
    body.textContent = '';
    if (!rows.length) {
      const tr = document.createElement('tr');
      const td = cell('Tidak ada pengajuan untuk filter ini.', 'empty');
      td.colSpan = 8;
      tr.append(td);
      body.append(tr);
    }
    rows.forEach((row) => {
      const tr = document.createElement('tr');
      tr.dataset.xid = String(row.application_xid);
      const status = document.createElement('td');
      const badge = document.createElement('span');
      badge.className = 'status s' + row.status_code;
      badge.textContent = statusLabel(row);
      status.append(badge);
      tr.append(
        cell(row.application_xid), cell(row.fullname), cell(wib(row.cdate)), cell(row.loan_purpose),
        cell(row.credit_grade), cell(rupiah(row.loan_amount), 'num'),
        cell(row.loan_duration === null ? null : row.loan_duration + ' bln', 'num'), status,
      );
      body.append(tr);
    });
    const first = state.page * state.filters.limit;
    $('page-info').textContent = rows.length
      ? 'Halaman ' + (state.page + 1) + ' · baris ' + groups(first + 1) + '–' + groups(first + rows.length)
      : 'Halaman ' + (state.page + 1);
    $('prev').disabled = state.page === 0;
    $('next').disabled = !state.next;
  }

  function setBusy(busy) {
    state.busy = busy;
    ['apply', 'reset', 'prev', 'next', 'download-csv', 'download-xlsx'].forEach((id) => { $(id).disabled = busy; });
    if (!busy) {
      $('prev').disabled = state.page === 0;
      $('next').disabled = !state.next;
    }
    document.body.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  // ---- downloads -------------------------------------------------------------------------------
  async function allFilteredRows() {
    const rows = [];
    let cursor = null;
    do {
      const body = await api('report', reportParams(state.filters, cursor, PAGE_MAX));
      rows.push(...body.rows);
      cursor = body.next_cursor;
      $('download-status').textContent = 'Menyiapkan unduhan… ' + groups(rows.length) + ' baris';
      if (rows.length > DOWNLOAD_MAX_ROWS) {
        throw new PortalError(413, 'too_many_rows', 'Lebih dari ' + groups(DOWNLOAD_MAX_ROWS)
          + ' baris: persempit rentang tanggal atau status, lalu unduh lagi.');
      }
    } while (cursor);
    return rows;
  }

  // a text cell that a spreadsheet would read as a formula is neutralised: its first characters are
  // chalicelib/csv_cells.py's (= + - @, tab, CR and their full-width forms), injected when the page is built
  const FORMULA_START = /*FORMULA_START*/;
  const looksLikeFormula = (text) => FORMULA_START.some((start) => text.startsWith(start));

  function csvCell(value, kind) {
    if (value === null || value === undefined) return '';
    let text = String(value);
    if (kind === 'text' && looksLikeFormula(text)) text = "'" + text;
    return /[",\r\n]/.test(text) || text.trim() !== text ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function toCsv(rows) {
    const lines = [EXPORT_COLUMNS.map(([header]) => csvCell(header, 'text')).join(',')];
    rows.forEach((row) => lines.push(EXPORT_COLUMNS.map(([, get, kind]) => csvCell(get(row), kind)).join(',')));
    return new Blob(['\ufeff' + lines.join('\r\n') + '\r\n'], { type: 'text/csv;charset=utf-8' });
  }

  // .xlsx: a workbook of one sheet, stored (uncompressed) in a zip; numbers are numbers (rupiah
  // formatted), text is inline strings, and formula-like text gets the quotePrefix style.
  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n += 1) {
      let c = n;
      for (let k = 0; k < 8; k += 1) c = (c & 1) ? (0xEDB88320 ^ (c >>> 1)) : (c >>> 1);
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    let c = 0xFFFFFFFF;
    for (let i = 0; i < bytes.length; i += 1) c = CRC_TABLE[(c ^ bytes[i]) & 0xFF] ^ (c >>> 8);
    return (c ^ 0xFFFFFFFF) >>> 0;
  }

  function zipStored(files) {
    const encoder = new TextEncoder();
    const parts = [];
    const central = [];
    let offset = 0;
    files.forEach(({ name, text }) => {
      const nameBytes = encoder.encode(name);
      const data = encoder.encode(text);
      const crc = crc32(data);
      const local = new DataView(new ArrayBuffer(30));
      local.setUint32(0, 0x04034b50, true);
      local.setUint16(4, 20, true);
      local.setUint16(12, 0x21, true); // 1980-01-01
      local.setUint32(14, crc, true);
      local.setUint32(18, data.length, true);
      local.setUint32(22, data.length, true);
      local.setUint16(26, nameBytes.length, true);
      parts.push(new Uint8Array(local.buffer), nameBytes, data);
      const entry = new DataView(new ArrayBuffer(46));
      entry.setUint32(0, 0x02014b50, true);
      entry.setUint16(4, 20, true);
      entry.setUint16(6, 20, true);
      entry.setUint16(14, 0x21, true);
      entry.setUint32(16, crc, true);
      entry.setUint32(20, data.length, true);
      entry.setUint32(24, data.length, true);
      entry.setUint16(28, nameBytes.length, true);
      entry.setUint32(42, offset, true);
      central.push(new Uint8Array(entry.buffer), nameBytes);
      offset += 30 + nameBytes.length + data.length;
    });
    const centralSize = central.reduce((n, part) => n + part.length, 0);
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, files.length, true);
    end.setUint16(10, files.length, true);
    end.setUint32(12, centralSize, true);
    end.setUint32(16, offset, true);
    return new Blob([...parts, ...central, new Uint8Array(end.buffer)], { type: XLSX_MIME });
  }

  function xml(text) {
    return String(text)
      .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  }

  function columnName(index) {
    let name = '';
    for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
    return name;
  }

  const STYLE_MONEY = 1;
  const STYLE_QUOTED = 2;
  const STYLE_HEADER = 3;

  function xlsxCell(ref, value, kind) {
    if (value === null || value === undefined || value === '') return '';
    if (kind === 'money' || kind === 'int') {
      return '<c r="' + ref + '"' + (kind === 'money' ? ' s="' + STYLE_MONEY + '"' : '') + '><v>' + Number(value) + '</v></c>';
    }
    const text = String(value);
    const style = looksLikeFormula(text) ? ' s="' + STYLE_QUOTED + '"' : '';
    return '<c r="' + ref + '" t="inlineStr"' + style + '><is><t xml:space="preserve">' + xml(text) + '</t></is></c>';
  }

  function toXlsx(rows) {
    const NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
    const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
    const PKG = 'http://schemas.openxmlformats.org/package/2006/relationships';
    const head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
    const header = '<row r="1">' + EXPORT_COLUMNS.map(([title], i) => '<c r="' + columnName(i) + '1" t="inlineStr" s="'
      + STYLE_HEADER + '"><is><t>' + xml(title) + '</t></is></c>').join('') + '</row>';
    const body = rows.map((row, r) => '<row r="' + (r + 2) + '">' + EXPORT_COLUMNS.map(([, get, kind], c) =>
      xlsxCell(columnName(c) + (r + 2), get(row), kind)).join('') + '</row>').join('');
    const cols = '<cols>' + EXPORT_COLUMNS.map(([, , , width], i) => '<col min="' + (i + 1) + '" max="' + (i + 1)
      + '" width="' + width + '" customWidth="1"/>').join('') + '</cols>';
    const sheet = head + '<worksheet xmlns="' + NS + '"><sheetViews><sheetView workbookViewId="0">'
      + '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
      + cols + '<sheetData>' + header + body + '</sheetData></worksheet>';
    const styles = head + '<styleSheet xmlns="' + NS + '">'
      + '<numFmts count="1"><numFmt numFmtId="164" formatCode="&quot;Rp &quot;#,##0"/></numFmts>'
      + '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
      + '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
      + '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
      + '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
      + '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
      + '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
      + '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" quotePrefix="1"/>'
      + '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
      + '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>';
    return zipStored([
      { name: '[Content_Types].xml', text: head + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        + '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        + '<Default Extension="xml" ContentType="application/xml"/>'
        + '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        + '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        + '</Types>' },
      { name: '_rels/.rels', text: head + '<Relationships xmlns="' + PKG + '"><Relationship Id="rId1" Type="' + REL
        + '/officeDocument" Target="xl/workbook.xml"/></Relationships>' },
      { name: 'xl/workbook.xml', text: head + '<workbook xmlns="' + NS + '" xmlns:r="' + REL + '"><sheets>'
        + '<sheet name="Laporan" sheetId="1" r:id="rId1"/></sheets></workbook>' },
      { name: 'xl/_rels/workbook.xml.rels', text: head + '<Relationships xmlns="' + PKG + '">'
        + '<Relationship Id="rId1" Type="' + REL + '/worksheet" Target="worksheets/sheet1.xml"/>'
        + '<Relationship Id="rId2" Type="' + REL + '/styles" Target="styles.xml"/></Relationships>' },
      { name: 'xl/styles.xml', text: styles },
      { name: 'xl/worksheets/sheet1.xml', text: sheet },
    ]);
  }

  function save(blob, extension) {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = 'laporan-mitra-' + state.partnerId + '-' + today() + '.' + extension;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  async function download(kind) {
    if (state.busy) return;
    setBusy(true);
    clearMessage();
    try {
      const rows = await allFilteredRows();
      save(kind === 'csv' ? toCsv(rows) : toXlsx(rows), kind);
      $('download-status').textContent = 'Terunduh: ' + groups(rows.length) + ' baris (' + kind.toUpperCase() + ')';
    } catch (err) {
      $('download-status').textContent = '';
      handleError(err);
    } finally {
      setBusy(false);
    }
  }

  // ---- wiring ----------------------------------------------------------------------------------
  function start() {
    const select = $('status');
    Object.entries(STATUS_LABELS).forEach(([code, label]) => {
      const option = document.createElement('option');
      option.value = code;
      option.textContent = label;
      select.append(option);
    });

    $('login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const key = $('api-key').value.trim();
      if (!key) return;
      clearMessage();
      $('login-button').disabled = true;
      try {
        await signIn(key);
      } catch (err) {
        handleError(err);
      } finally {
        $('login-button').disabled = false;
      }
    });
    $('logout').addEventListener('click', () => { signOut(); clearMessage(); });
    $('filters').addEventListener('submit', (event) => {
      event.preventDefault();
      const filters = readFilters();
      if (filters.from && filters.to && filters.from > filters.to) {
        showMessage('Tanggal awal tidak boleh setelah tanggal akhir.');
        return;
      }
      clearMessage();
      state.filters = filters;
      state.cursors = [null];
      state.page = 0;
      loadPage();
    });
    $('reset').addEventListener('click', () => { clearMessage(); resetFilters(); loadPage(); });
    $('next').addEventListener('click', () => {
      if (!state.next) return;
      state.cursors[state.page + 1] = state.next;
      state.page += 1;
      loadPage();
    });
    $('prev').addEventListener('click', () => {
      if (state.page === 0) return;
      state.page -= 1;
      loadPage();
    });
    $('download-csv').addEventListener('click', () => download('csv'));
    $('download-xlsx').addEventListener('click', () => download('xlsx'));

    const stored = sessionStorage.getItem(KEY_STORE);
    if (stored) {
      signIn(stored).catch(handleError);
    } else {
      signOut();
    }
  }

  start();
}());
