/* "Apply style…" confirmation page: recount what would be generated as the form
   changes, and show the preview of the settings (asked again while a worker renders
   it). The page works without this script: "Recalculate" does the same with a full
   page load, so the button is only hidden once a live recount has succeeded. */
'use strict';
{
    const form = document.getElementById('stylestore-apply-form');
    const summary = document.getElementById('stylestore-counts');
    const preview = document.getElementById('stylestore-settings-preview');
    const PREVIEW_POLL = 1500;
    const recountButton = form && form.querySelector('.stylestore-recount');
    let timer = null;
    let controller = null;

    function recount() {
        if (controller) {
            controller.abort();
        }
        controller = new AbortController();
        const data = new FormData(form);
        data.set(recountButton.name, 'json');
        // The changelist the page posts to (`form.action` is the input named "action").
        fetch(form.getAttribute('action') || window.location.href, {
            method: 'POST',
            body: data,
            credentials: 'same-origin',
            headers: {'Accept': 'application/json'},
            signal: controller.signal,
        })
            .then((response) => response.ok ? response.json() : Promise.reject(new Error(response.statusText)))
            .then((payload) => {
                summary.innerHTML = payload.summary_html;
                if (preview) {
                    preview.innerHTML = payload.preview_html;
                }
                recountButton.hidden = true;
                if (payload.preview_pending) {
                    clearTimeout(timer);
                    timer = setTimeout(recount, PREVIEW_POLL);
                }
            })
            .catch((error) => {
                if (error.name !== 'AbortError') {
                    recountButton.hidden = false;
                }
            });
    }

    function schedule() {
        clearTimeout(timer);
        timer = setTimeout(recount, 300);
    }

    if (form && summary && recountButton) {
        form.addEventListener('change', schedule);
        form.addEventListener('input', schedule);
        // A preview being rendered, or styles chosen before this script ran (or restored
        // by the browser): count and preview them now.
        if (form.querySelector('.stylestore-settings-preview-placeholder, input[name="styles"]:checked')) {
            schedule();
        }
    }
}
