/* Before/after slider on the stylized image page: the range input moves the split
   between the original (left) and the styled image (right). */
'use strict';
{
    document.addEventListener('input', (event) => {
        if (!event.target.matches('.stylestore-compare-range')) {
            return;
        }
        const widget = event.target.closest('.stylestore-compare-widget');
        const compare = widget && widget.querySelector('.stylestore-compare');
        if (compare) {
            compare.style.setProperty('--position', event.target.value + '%');
        }
    });
}
