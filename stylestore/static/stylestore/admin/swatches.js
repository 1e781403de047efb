/* Preset swatches and the blend editor's live preview. Swatches are rendered by a
   worker: a placeholder ([data-stylestore-swatch], the blend's weights as JSON) is
   polled at its data-url and swapped for the image once ready. The blend editor asks
   for the swatch of the weights typed so far. Pauses while the tab is hidden. The
   words shown come translated from the page (data-*-label). */
'use strict';
{
    const INTERVAL = 1500;

    function swatchUrl(base, blends) {
        const url = new URL(base, window.location.href);
        blends.forEach((weights) => url.searchParams.append('w', weights));
        return url;
    }

    function fetchSwatches(base, blends) {
        return fetch(swatchUrl(base, blends), {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
            .then((response) => response.json().then((payload) => {
                if (!response.ok) {
                    throw new Error(payload.error || response.statusText);
                }
                return payload.swatches;
            }));
    }

    function image(preview, alt, size) {
        const img = document.createElement('img');
        img.src = preview.url;
        img.alt = alt;
        img.width = size;
        img.height = size;
        img.className = 'stylestore-thumb stylestore-swatch';
        return img;
    }

    function pollPlaceholders() {
        if (document.hidden) {
            setTimeout(pollPlaceholders, INTERVAL);
            return;
        }
        const pending = [...document.querySelectorAll('[data-stylestore-swatch].stylestore-swatch--rendering')]
            .filter((element) => element.dataset.url);
        if (!pending.length) {
            return;
        }
        const byUrl = new Map();
        pending.forEach((element) => {
            byUrl.set(element.dataset.url, [...(byUrl.get(element.dataset.url) || []), element]);
        });
        Promise.all([...byUrl].map(([url, elements]) =>
            fetchSwatches(url, elements.map((element) => element.dataset.stylestoreSwatch)).then((found) => {
                found.forEach((preview, i) => {
                    const element = elements[i];
                    if (preview.status === 'ready') {
                        element.replaceWith(image(preview, element.dataset.alt, parseInt(element.style.width, 10)));
                    } else if (preview.status === 'failed') {
                        element.classList.replace('stylestore-swatch--rendering', 'stylestore-swatch--failed');
                        element.title = `${element.dataset.failedLabel}: ${preview.error}`;
                        if (element.textContent !== '…') {
                            element.textContent = element.dataset.failedLabel;
                        }
                    }
                });
            }),
        )).then(() => setTimeout(pollPlaceholders, INTERVAL), () => setTimeout(pollPlaceholders, INTERVAL * 4));
    }

    function blendPreview(figure) {
        const inputs = [...figure.closest('.stylestore-blend-editor').querySelectorAll('input[type=number]')];
        const frame = figure.querySelector('.stylestore-blend-image');
        const status = figure.querySelector('.stylestore-blend-status');
        let timer = null;
        let asked = '';

        function weights() {
            const found = {};
            inputs.forEach((input, index) => {
                const value = parseFloat(input.value);
                if (value > 0) {
                    found[index] = value;
                }
            });
            return found;
        }

        function show(blend) {
            if (blend !== asked) {
                return; // the weights changed meanwhile
            }
            fetchSwatches(figure.dataset.stylestoreBlend, [blend]).then(([preview]) => {
                if (blend !== asked) {
                    return;
                }
                if (preview.status === 'ready') {
                    frame.replaceChildren(image(preview, figure.dataset.alt,
                        parseInt(frame.style.width, 10)));
                    status.textContent = '';
                } else if (preview.status === 'failed') {
                    status.textContent = preview.error;
                } else {
                    status.textContent = figure.dataset.renderingLabel;
                    setTimeout(() => show(blend), INTERVAL);
                }
            }).catch((error) => {
                if (blend === asked) {
                    frame.replaceChildren();
                    status.textContent = error.message;
                }
            });
        }

        function update() {
            const found = weights();
            if (!Object.keys(found).length) {
                asked = '';
                frame.replaceChildren();
                status.textContent = figure.dataset.emptyLabel;
                return;
            }
            asked = JSON.stringify(found);
            show(asked);
        }

        inputs.forEach((input) => input.addEventListener('input', () => {
            clearTimeout(timer);
            timer = setTimeout(update, 400);
        }));
        update();
    }

    function start() {
        setTimeout(pollPlaceholders, INTERVAL);
        document.querySelectorAll('[data-stylestore-blend]').forEach(blendPreview);
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
}
