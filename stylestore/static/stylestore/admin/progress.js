/* Changelist "Styles" column: while any row has images queued or rendering, poll
   the admin's progress endpoint and update those cells (text, link to the row's
   variants) in place. Stops polling once nothing is pending, pauses while the tab is
   hidden, backs off on errors. */
'use strict';
{
    const INTERVAL = 4000;

    function pendingCells() {
        return Array.from(document.querySelectorAll('[data-stylestore-progress]'))
            .filter((cell) => cell.dataset.pending !== '0');
    }

    function poll() {
        const cells = pendingCells();
        if (!cells.length) {
            return;
        }
        if (document.hidden) {
            setTimeout(poll, INTERVAL);
            return;
        }
        const url = new URL(cells[0].dataset.url, window.location.href);
        cells.forEach((cell) => url.searchParams.append('id', cell.dataset.stylestoreProgress));
        fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
            .then((response) => response.ok ? response.json() : Promise.reject(new Error(response.statusText)))
            .then((payload) => {
                cells.forEach((cell) => {
                    const counts = payload.progress[cell.dataset.stylestoreProgress];
                    if (counts) {
                        cell.textContent = counts.label;
                        cell.dataset.pending = String(counts.pending);
                        if (counts.url && cell.tagName === 'A') {
                            cell.href = counts.url;
                        }
                        cell.classList.toggle('stylestore-progress--failed', counts.failed > 0);
                    }
                });
                setTimeout(poll, INTERVAL);
            })
            .catch(() => setTimeout(poll, INTERVAL * 4));
    }

    function start() {
        setTimeout(poll, INTERVAL);
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
}
