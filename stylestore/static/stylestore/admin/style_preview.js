/* Style preview page: while the worker renders the preview, poll its status and
   reload the page once it is ready or has failed (the page then shows either).
   Pauses while the tab is hidden and backs off on errors. */
'use strict';
{
    const INTERVAL = 1500;

    function poll(placeholder) {
        if (document.hidden) {
            setTimeout(() => poll(placeholder), INTERVAL);
            return;
        }
        const url = new URL(placeholder.dataset.stylestorePreview, window.location.href);
        fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
            .then((response) => response.ok ? response.json() : Promise.reject(new Error(response.statusText)))
            .then((preview) => {
                if (preview.status === 'rendering') {
                    setTimeout(() => poll(placeholder), INTERVAL);
                } else {
                    window.location.reload();
                }
            })
            .catch(() => setTimeout(() => poll(placeholder), INTERVAL * 4));
    }

    function start() {
        const placeholder = document.querySelector('[data-stylestore-preview]');
        if (placeholder) {
            setTimeout(() => poll(placeholder), INTERVAL);
        }
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
}
