// The table lives in core: the library and the UI name devices too.
export { productName, isKnownProductType } from '../core/product-names.ts';
