/* Style change form: show the style image field for image styles and the preset
   weights for preset styles (the preview row shows either look). Purely presentational; the server validates both. */
'use strict';
{
    function update(kind) {
        const preset = kind.value === 'preset';
        document.querySelectorAll('.form-row.field-image')
            .forEach((row) => row.classList.toggle('hidden', preset));
        document.querySelectorAll('.form-row.field-preset_weights')
            .forEach((row) => row.classList.toggle('hidden', !preset));
    }

    function start() {
        const kind = document.getElementById('id_kind');
        if (kind) {
            update(kind);
            kind.addEventListener('change', () => update(kind));
        }
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
}
