// NixFleet's only script (the CSP allows no inline script): antiforgery for htmx, copy buttons,
// and the live output of an operation over Server-Sent Events.
(function () {
    'use strict';

    // Antiforgery: every htmx request that changes something carries the page's token as a header.
    var tokenMeta = document.querySelector('meta[name="request-verification-token"]');
    document.addEventListener('htmx:configRequest', function (e) {
        if (tokenMeta && tokenMeta.content && e.detail.verb !== 'get') {
            e.detail.headers['RequestVerificationToken'] = tokenMeta.content;
        }
    });

    // Copy buttons: data-copy-target="#id" of a textarea or element.
    document.addEventListener('click', function (e) {
        var button = e.target.closest ? e.target.closest('[data-copy-target]') : null;
        if (!button) return;
        var source = document.querySelector(button.getAttribute('data-copy-target'));
        if (!source) return;
        var text = 'value' in source ? source.value : source.textContent;
        var label = button.querySelector('[data-copy-label]') || button;
        var original = label.textContent;
        function done(ok) {
            label.textContent = ok ? 'Copied' : 'Select and copy by hand';
            setTimeout(function () { label.textContent = original; }, 2000);
        }
        function fallback() {
            // Clipboard API needs a secure context (HTTPS or localhost): select the text instead.
            if (source.select) { source.focus(); source.select(); }
            var ok = false;
            try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
            done(ok);
        }
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
        } else {
            fallback();
        }
    });

    // Live operation output. The page already shows every stored line; this follows the rest.
    function startLiveOutput() {
        var box = document.getElementById('op-output');
        if (!box || !box.dataset.streamUrl || !window.EventSource) return;
        var lastSeq = parseInt(box.dataset.lastSeq || '0', 10);
        var live = document.getElementById('op-live');
        var source = new EventSource(box.dataset.streamUrl);

        function nearBottom() { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }
        function setLive(text, stopped) {
            if (!live) return;
            live.lastChild.textContent = text;
            live.classList.toggle('op-stopped', !!stopped);
        }
        function reloadHeader() {
            var header = document.getElementById('op-header');
            if (header && window.htmx && header.dataset.refreshUrl) {
                window.htmx.ajax('GET', header.dataset.refreshUrl, { target: '#op-header', swap: 'outerHTML' });
            }
        }
        function appendLine(line) {
            var row = document.createElement('div');
            row.className = 'op-line op-' + line.stream;
            row.dataset.seq = line.seq;
            var seq = document.createElement('span');
            seq.className = 'op-seq';
            seq.textContent = line.seq;
            var text = document.createElement('span');
            text.className = 'op-text';
            text.textContent = line.text;
            row.appendChild(seq);
            row.appendChild(text);
            box.appendChild(row);
        }

        box.scrollTop = box.scrollHeight;
        source.addEventListener('line', function (e) {
            var line = JSON.parse(e.data);
            if (line.seq <= lastSeq) return; // already on the page
            lastSeq = line.seq;
            var empty = document.getElementById('op-empty');
            if (empty) empty.remove();
            // Follow the end only if the reader is there; don't pull them away from what they read.
            var follow = nearBottom();
            appendLine(line);
            if (follow) box.scrollTop = box.scrollHeight;
        });
        source.addEventListener('status', function () { reloadHeader(); });
        source.addEventListener('end', function () {
            source.close();
            setLive('finished', true);
            reloadHeader();
        });
        source.addEventListener('open', function () { setLive('live', false); });
        source.addEventListener('error', function () {
            // The browser reconnects by itself, resuming after the last line (Last-Event-ID).
            if (source.readyState !== EventSource.CLOSED) setLive('reconnecting…', true);
        });
    }

    startLiveOutput();
})();
