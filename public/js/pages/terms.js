// The terms of use: the theme, like every page.
import { initTheme } from '../lib/theme.js?v=376900fe2c';

initTheme();
